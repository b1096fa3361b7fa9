import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Database } from '../src/db/database.js';
import { requireToken } from '../src/http/auth.js';
import type { Metrics } from '../src/observability/metrics.js';

const STATE_VALUE = { closed: 0, open: 1, half_open: 2 } as const;
const COUNTED_TABLES = ['episodes', 'steps', 'episode_tags', 'embeddings', 'idempotency_keys'] as const;

/**
 * Prometheus scrape endpoint (SPEC §7); gauges that mirror live state are refreshed per scrape. With a
 * `token` (METRICS_TOKEN) a scrape must send it as a bearer token.
 */
export const metricsRoutes: FastifyPluginAsyncZod<{
  metrics: Metrics;
  db: Database;
  token?: string | undefined;
}> = async (app, { metrics, db, token }) => {
  let acquiredSeen = 0;

  async function refresh(): Promise<void> {
    const breaker = db.policy.breakerSnapshot;
    const pool = db.policy.poolSnapshot;
    metrics.circuitState.set(STATE_VALUE[breaker.state]);
    metrics.poolInUse.set(pool.in_use);
    metrics.poolQueued.set(pool.queued);
    metrics.poolAcquired.inc(pool.total_acquired - acquiredSeen);
    acquiredSeen = pool.total_acquired;
    if (breaker.state === 'open') return; // keep the last counts rather than hammer a down database
    const counts = await db
      .read(COUNTED_TABLES.map((t) => `SELECT '${t}' AS name, COUNT(*) AS n FROM ${t}`).join(' UNION ALL '))
      .catch(() => []);
    for (const row of counts) metrics.records.set({ table: String(row.name) }, Number(row.n));
  }

  app.get(
    '/metrics',
    { schema: { hide: true }, onRequest: token ? requireToken(token) : [] },
    async (_request, reply) => {
      await refresh();
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
};
