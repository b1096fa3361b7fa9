import type { StatsQuery, StatsRecord } from '../domain/stats.js';
import type { StatsRepository } from '../storage/stats-repository.js';

/** Analytics use cases (SPEC §3.6). */
export class StatsService {
  constructor(private readonly stats: StatsRepository) {}

  get(tenant: string, query: StatsQuery): Promise<StatsRecord> {
    return this.stats.stats(tenant, query.top);
  }
}
