import type {
  DomainCount,
  SpatiotemporalOrder,
  SpatiotemporalSearch,
  TimelineFilter,
  TimelinePoint,
} from '../domain/spatiotemporal.js';
import type { Encoded, Page } from './types.js';

/** Where and when (SPEC §3.5): reads over the spatiotemporal index and the episodes. */
export interface SpatiotemporalRepository {
  /**
   * One keyset page of the items in the place and window of `q`, with its episode filters, in its order,
   * within the page budget; each item as `{ item_type, distance_m, item }` JSON text. An episode in progress
   * spans until `nowMs`. Atomicity: one read. Retry: safe. Concurrency: a cursor stays valid while items
   * are written concurrently (no duplicates, no skipped older rows).
   */
  search(
    tenant: string,
    q: SpatiotemporalSearch & { order: SpatiotemporalOrder },
    nowMs: number,
  ): Promise<Page<Encoded>>;
  /**
   * Per bucket [boundaries[i], boundaries[i + 1]): the episodes (not archived, of these kinds) that started in it, how many
   * completed and succeeded, their mean reward, and the 5 tools most used by their steps timestamped in it.
   * Every bucket is answered, in order. Computed in SQL, off the event loop. Atomicity: two reads. Retry: safe.
   */
  timeline(tenant: string, kinds: TimelineFilter, boundaries: readonly number[]): Promise<TimelinePoint[]>;
  /**
   * Episodes that started in [fromMs, toMs) per domain and task type, the busiest `limit` pairs first.
   * Computed in SQL, off the event loop. Atomicity: one read. Retry: safe.
   */
  domains(tenant: string, fromMs: number, toMs: number, limit: number): Promise<DomainCount[]>;
}
