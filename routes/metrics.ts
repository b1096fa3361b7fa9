import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Database } from '../src/db/database.js';
import { requireToken } from '../src/http/auth.js';
import type { Metrics } from '../src/observability/metrics.js';

const STATE_VALUE = { closed: 0, open: 1, half_open: 2 } as const;

/**
/**
 * Prometheus scrape endpoint (SPEC §7). Gauges that mirror the policy's live state are set per scrape (no
 * I/O); row counts are kept by RecordCounts in the background, so a scrape never touches the database. With
 * a `token` (METRICS_TOKEN) a scrape must send it as a bearer token.
 */
export const metricsRoutes: FastifyPluginAsyncZod<{
  metrics: Metrics;
  db: Database;
  token?: string | undefined;
}> = async (app, { metrics, db, token }) => {
  let acquiredSeen = 0;

  function refresh(): void {
    const breaker = db.policy.breakerSnapshot;
    const pool = db.policy.poolSnapshot;
    metrics.circuitState.set(STATE_VALUE[breaker.state]);
    metrics.poolInUse.set(pool.in_use);
    metrics.poolQueued.set(pool.queued);
    metrics.poolAcquired.inc(pool.total_acquired - acquiredSeen);
    acquiredSeen = pool.total_acquired;
  }

  app.get(
    '/metrics',
    { schema: { hide: true }, onRequest: token ? requireToken(token) : [] },
    async (_request, reply) => {
      refresh();
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
};
