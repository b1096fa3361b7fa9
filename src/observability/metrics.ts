import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DB_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export type Metrics = ReturnType<typeof createMetrics>;

/** One registry per app instance (never the global one), with the names of SPEC §7. */
export function createMetrics(build: { version: string }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these gauges under a `_total` name, which promtool rightly rejects; the same
  // values remain as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
  const registers = [registry];
  const metrics = {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: HTTP_BUCKETS,
      registers,
    }),
    inFlight: new Gauge({
      name: 'engram_http_requests_in_flight',
      help: 'Requests admitted and not yet answered (health probes and scrapes not counted)',
      registers,
    }),
    shed: new Counter({
      name: 'engram_http_requests_shed_total',
      help: 'Requests answered 503 SERVICE_OVERLOADED by admission control before their body was read, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    dbOperation: new Histogram({
      name: 'engram_db_operation_duration_seconds',
      help: 'Database operation duration, resilience policy included, by operation and outcome',
      labelNames: ['operation', 'outcome'] as const,
      buckets: DB_BUCKETS,
      registers,
    }),
    dbRetries: new Counter({ name: 'engram_db_retries_total', help: 'Database calls retried', registers }),
    replicaReads: new Counter({
      name: 'engram_db_replica_reads_total',
      help: 'Reads routed to the read replica (LIBSQL_READ_URL): answered there, or by the primary instead',
      labelNames: ['outcome'] as const,
      registers,
    }),
    dbErrors: new Counter({
      name: 'engram_db_errors_total',
      help: 'Database operations that failed, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    circuitState: new Gauge({
      name: 'engram_db_circuit_state',
      help: 'Database circuit breaker state: 0 closed, 1 open, 2 half-open',
      registers,
    }),
    circuitBreaks: new Counter({
      name: 'engram_db_circuit_breaks_total',
      help: 'Times the database circuit breaker opened',
      registers,
    }),
    poolInUse: new Gauge({ name: 'engram_db_pool_in_use', help: 'Database operations running', registers }),
    poolQueued: new Gauge({
      name: 'engram_db_pool_queued',
      help: 'Database operations waiting for the pool',
      registers,
    }),
    poolAcquired: new Counter({
      name: 'engram_db_pool_acquired_total',
      help: 'Database operations admitted by the pool',
      registers,
    }),
    records: new Gauge({
      name: 'engram_records',
      help: 'Rows per table, counted at scrape time',
      labelNames: ['table'] as const,
      registers,
    }),
    similarSearches: new Counter({
      name: 'engram_similarity_searches_total',
      help: 'Similarity searches by the path that answered: index (DiskANN candidates re-ranked) or exact (a scan)',
      labelNames: ['strategy'] as const,
      registers,
    }),
    buildInfo: new Gauge({
      name: 'engram_build_info',
      help: 'Build information; the value is always 1',
      labelNames: ['version', 'node_version'] as const,
      registers,
    }),
  };
  metrics.buildInfo.set({ version: build.version, node_version: process.version }, 1);
  return metrics;
}
