import type { SpatiotemporalSearch } from '../domain/spatiotemporal.js';
import type { SpatiotemporalRepository } from '../storage/spatiotemporal-repository.js';
import type { Encoded, Page } from '../storage/types.js';

/** Where and when (SPEC §3.5). Knows nothing of HTTP or SQL. */
export class SpatiotemporalService {
  constructor(private readonly index: SpatiotemporalRepository) {}

  /** Items in a place and a time window; nearest first with `near`, else newest first, unless ordered. */
  search(tenant: string, query: SpatiotemporalSearch): Promise<Page<Encoded>> {
    const order = query.order ?? (query.near ? 'distance' : 'time_desc');
    return this.index.search(tenant, { ...query, order }, Date.now());
  }
}
