import type { StatsRecord } from '../domain/stats.js';

/** Analytics over a tenant's records (SPEC §3.6). */
export interface StatsRepository {
  /**
   * The stats, with the `top` domains and tools. Episode and tool totals come from running totals kept by
   * triggers in the writes' own transactions, so they are exact. Atomicity: several reads (a write between
   * them may show in one part and not yet in another). Retry: safe.
   */
  stats(tenant: string, top: number): Promise<StatsRecord>;
}
