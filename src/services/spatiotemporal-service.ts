import { InvalidRequest } from '../domain/errors.js';
import {
  bucketBoundaries,
  DEFAULT_WINDOW_MS,
  type DomainCounts,
  type DomainsQuery,
  MAX_TIMELINE_BUCKETS,
  type SpatiotemporalSearch,
  type Timeline,
  type TimelineQuery,
} from '../domain/spatiotemporal.js';
import type { SpatiotemporalRepository } from '../storage/spatiotemporal-repository.js';
import type { Encoded, Page } from '../storage/types.js';

/** A window of the query string: `to` defaults to now, `from` to 30 days before `to`. */
function windowOf(q: { from?: string | undefined; to?: string | undefined }): {
  fromMs: number;
  toMs: number;
} {
  const toMs = q.to === undefined ? Date.now() : Date.parse(q.to);
  const fromMs = q.from === undefined ? toMs - DEFAULT_WINDOW_MS : Date.parse(q.from);
  if (fromMs > toMs) {
    // Only reachable with a default: two given ends are checked by the schema.
    throw new InvalidRequest(400, [
      { in: 'query', path: '/from', message: 'must not be later than to (default: now)' },
    ]);
  }
  return { fromMs, toMs };
}

/** Where and when (SPEC §3.5). Knows nothing of HTTP or SQL. */
export class SpatiotemporalService {
  constructor(private readonly index: SpatiotemporalRepository) {}

  /** Items in a place and a time window; nearest first with `near`, else newest first, unless ordered. */
  search(tenant: string, query: SpatiotemporalSearch): Promise<Page<Encoded>> {
    const order = query.order ?? (query.near ? 'distance' : 'time_desc');
    return this.index.search(tenant, { ...query, order }, Date.now());
  }

  /** Episodes per bucket of the window, in the buckets of a time zone's wall clock. */
  async timeline(tenant: string, q: TimelineQuery): Promise<Timeline> {
    const { fromMs, toMs } = windowOf(q);
    const boundaries = bucketBoundaries(q.bucket, fromMs, toMs, q.tz);
    if (!boundaries) {
      throw new InvalidRequest(400, [
        {
          in: 'query',
          path: '/bucket',
          message: `the window holds more than ${MAX_TIMELINE_BUCKETS} ${q.bucket} buckets: choose a larger bucket or a shorter window`,
        },
      ]);
    }
    const kinds = { domain: q.domain, task_type: q.task_type, agent_id: q.agent_id };
    const buckets = await this.index.timeline(tenant, kinds, boundaries);
    return {
      bucket: q.bucket,
      tz: q.tz,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      buckets,
    };
  }

  /** Episodes per domain and task type that started in the window. */
  async domains(tenant: string, q: DomainsQuery): Promise<DomainCounts> {
    const { fromMs, toMs } = windowOf(q);
    const items = await this.index.domains(tenant, fromMs, toMs, q.limit);
    return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), items };
  }
}
