import type { SpatiotemporalOrder, SpatiotemporalSearch } from '../domain/spatiotemporal.js';
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
}
