import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/app.js';
import { latestSchemaVersion } from '../../src/storage/migrations.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// SPEC §4 and §7: health for operators and load balancers, Prometheus metrics with route templates.

const EPISODE = { task_type: 'analysis', task_description: 'read the logs', context: { domain: 'ops' } };
const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
/** What a remote client raises when the server is down: counts against the breaker (BUSY does not). */
const refused = () => new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });

/** The metric families of SPEC §7 with their Prometheus types. */
const SPEC_METRICS: [string, string][] = [
  ['http_request_duration_seconds', 'histogram'],
  ['engram_db_operation_duration_seconds', 'histogram'],
  ['engram_db_retries_total', 'counter'],
  ['engram_db_errors_total', 'counter'],
  ['engram_db_circuit_state', 'gauge'],
  ['engram_db_circuit_breaks_total', 'counter'],
  ['engram_db_pool_in_use', 'gauge'],
  ['engram_db_pool_queued', 'gauge'],
  ['engram_db_pool_acquired_total', 'counter'],
  ['engram_records', 'gauge'],
  ['engram_build_info', 'gauge'],
];

/** Label sets of the samples of one metric, e.g. `[{ method: 'GET', route: '/v1/episodes/:id', ... }]`. */
function labelsOf(text: string, sample: string): Record<string, string>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${sample}{`))
    .map((line) => {
      const inner = line.slice(sample.length + 1, line.lastIndexOf('}'));
      return Object.fromEntries([...inner.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    });
}

function sampleValue(text: string, sampleWithLabels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sampleWithLabels} `));
  return line === undefined ? undefined : Number(line.slice(sampleWithLabels.length + 1));
}

describe('/health', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('/health - healthy embedded database - 200 with the JSON shape of SPEC §4', async () => {
    app = await buildTestApp({ DB_POOL_SIZE: 6 });
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json();
    expect(body).toEqual({
      status: 'ok',
      version: VERSION,
      uptime_s: expect.any(Number),
      database: {
        mode: 'embedded',
        reachable: true,
        latency_ms: expect.any(Number),
        schema_version: latestSchemaVersion(),
      },
      circuit_breaker: { state: 'closed', failure_count: 0, last_failure_at: null },
      pool: { size: 6, in_use: 0, queued: 0, total_acquired: expect.any(Number) },
    });
    expect(body.uptime_s).toBeGreaterThanOrEqual(0);
    expect(body.database.latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.pool.total_acquired).toBeGreaterThan(0);
  });

  it('/health - database failing - 503 unavailable, breaker state and failures reported', async () => {
    app = await buildTestApp(
      { DB_RETRY_MAX_ATTEMPTS: 1, DB_BREAKER_FAILURE_THRESHOLD: 100 },
      { faults: true },
    );
    app.faults.fault = () => {
      throw refused();
    };
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'unavailable',
      database: { mode: 'embedded', reachable: false, latency_ms: null, schema_version: null },
      circuit_breaker: { state: 'closed', failure_count: 1, last_failure_at: expect.any(String) },
    });
  });

  it('/health/live - database failing - still 200 and does no database I/O', async () => {
    app = await buildTestApp({}, { faults: true });
    app.faults.fault = () => {
      throw busy();
    };
    const callsBefore = app.faults.calls;
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(app.faults.calls).toBe(callsBefore);
  });

  it('/health/ready - migrated and reachable - 200 ready', async () => {
    app = await buildTestApp();
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready' });
  });

  it('/health/ready - shutting down - 503 with Retry-After while the API still answers', async () => {
    app = await buildTestApp();
    app.engram.health.beginShutdown();
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.json()).toEqual({ status: 'not_ready', reason: 'shutting down' });
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });

  it('/health/ready - database unreachable (breaker still closed) - 503', async () => {
    app = await buildTestApp(
      { DB_RETRY_MAX_ATTEMPTS: 1, DB_BREAKER_FAILURE_THRESHOLD: 100 },
      { faults: true },
    );
    app.faults.fault = () => {
      throw busy();
    };
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'not_ready', reason: 'database unreachable' });
  });

  it('/health/ready - breaker open - 503 without touching the database', async () => {
    app = await buildTestApp(
      { DB_RETRY_MAX_ATTEMPTS: 1, DB_BREAKER_FAILURE_THRESHOLD: 1, DB_BREAKER_TIMEOUT_MS: 60_000 },
      { faults: true },
    );
    app.faults.fault = () => {
      throw refused();
    };
    await app.inject({ method: 'GET', url: '/v1/episodes' });
    expect(app.engram.db.policy.breakerSnapshot.state).toBe('open');
    const callsBefore = app.faults.calls;
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'not_ready', reason: 'circuit breaker open' });
    expect(app.faults.calls).toBe(callsBefore);
  });
});

describe('/metrics', () => {
  let app: TestApp;
  let scrape: string;
  let episodeId: string;

  /** Traffic that populates every label: successes, 4xx, an unmatched route, a retried DB error. */
  beforeAll(async () => {
    app = await buildTestApp({ DB_RETRY_MAX_ATTEMPTS: 2, DB_RETRY_INITIAL_BACKOFF_MS: 1 }, { faults: true });
    const created = await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(created.statusCode).toBe(201);
    episodeId = created.json().id;
    await app.inject({ method: 'GET', url: `/v1/episodes/${episodeId}` });
    await app.inject({ method: 'GET', url: `/v1/episodes/${episodeId}/steps` });
    await app.inject({ method: 'GET', url: '/v1/episodes?limit=abc' });
    await app.inject({ method: 'GET', url: `/v1/no-such-route/${episodeId}` });
    app.faults.fault = () => {
      throw busy();
    };
    await app.inject({ method: 'GET', url: `/v1/episodes/${episodeId}` });
    app.faults.fault = undefined;
    await app.inject({ method: 'GET', url: '/health' });
    await app.engram.recordCounts.refresh(); // row counts are kept in the background, not by the scrape
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    scrape = res.body;
  });
  afterAll(() => app.close());

  it('/metrics - after traffic - every SPEC §7 family with its type', () => {
    for (const [name, type] of SPEC_METRICS) expect(scrape, name).toContain(`# TYPE ${name} ${type}\n`);
  });

  it('/metrics - node defaults - present', () => {
    expect(scrape).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(scrape).toMatch(/# TYPE nodejs_eventloop_lag_seconds gauge/);
  });

  it('/metrics - http durations - labelled by route template, never by a raw path or id', () => {
    const labels = labelsOf(scrape, 'http_request_duration_seconds_count');
    const routes = new Set(labels.map((l) => l.route));
    expect(routes).toContain('/v1/episodes');
    expect(routes).toContain('/v1/episodes/:id');
    expect(routes).toContain('/v1/episodes/:id/steps');
    for (const route of routes) {
      expect(route).not.toContain(episodeId);
      expect(route).not.toContain('no-such-route');
      expect(route).not.toContain('?');
    }
    expect(labels).toContainEqual({ method: 'GET', route: '/v1/episodes/:id', status_code: '200' });
    expect(labels).toContainEqual({ method: 'GET', route: '/v1/episodes', status_code: '400' });
    expect(labels).toContainEqual({ method: 'POST', route: '/v1/episodes', status_code: '201' });
    expect(labels).toContainEqual({ method: 'GET', route: '/v1/episodes/:id', status_code: '503' });
    expect(scrape).not.toContain(episodeId);
  });

  it('/metrics - database metrics - operations by outcome, retries, errors by kind, pool, records, build', () => {
    expect(labelsOf(scrape, 'engram_db_operation_duration_seconds_count')).toEqual(
      expect.arrayContaining([
        { operation: 'read', outcome: 'success' },
        { operation: 'read', outcome: 'busy' },
        { operation: 'write_group', outcome: 'success' },
      ]),
    );
    expect(sampleValue(scrape, 'engram_db_retries_total')).toBe(1);
    expect(sampleValue(scrape, 'engram_db_errors_total{kind="busy"}')).toBe(1);
    expect(sampleValue(scrape, 'engram_db_circuit_state')).toBe(0);
    expect(sampleValue(scrape, 'engram_db_circuit_breaks_total')).toBe(0);
    expect(sampleValue(scrape, 'engram_db_pool_in_use')).toBe(0);
    expect(sampleValue(scrape, 'engram_db_pool_queued')).toBe(0);
    expect(sampleValue(scrape, 'engram_db_pool_acquired_total')).toBeGreaterThan(3);
    expect(sampleValue(scrape, 'engram_records{table="episodes"}')).toBe(1);
    expect(labelsOf(scrape, 'engram_build_info')).toEqual([
      { version: VERSION, node_version: process.version },
    ]);
  });

  it('/metrics - open breaker - circuit state 1 and one break counted', async () => {
    const local = await buildTestApp(
      { DB_RETRY_MAX_ATTEMPTS: 1, DB_BREAKER_FAILURE_THRESHOLD: 1, DB_BREAKER_TIMEOUT_MS: 60_000 },
      { faults: true },
    );
    try {
      local.faults.fault = () => {
        throw refused();
      };
      await local.inject({ method: 'GET', url: '/v1/episodes' });
      const text = (await local.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sampleValue(text, 'engram_db_circuit_state')).toBe(1);
      expect(sampleValue(text, 'engram_db_circuit_breaks_total')).toBe(1);
    } finally {
      await local.close();
    }
  });

  it('/metrics - a scrape - costs no database call (row counts are kept in the background)', async () => {
    const before = app.faults.calls;
    for (let i = 0; i < 5; i++)
      expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expect(app.faults.calls).toBe(before);
  });

  it('record counts - the database failing - logged, never counted against the breaker nor taking the pool', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const local = await buildTestApp({ DB_BREAKER_FAILURE_THRESHOLD: 1 }, { faults: true, logger });
    try {
      await local.engram.recordCounts.refresh(); // the count the app started: three refreshes below are three counts
      local.faults.fault = () => {
        throw busy();
      };
      const acquired = local.engram.db.policy.poolSnapshot.total_acquired;
      for (let i = 0; i < 3; i++) await local.engram.recordCounts.refresh();
      expect(local.engram.db.policy.breakerSnapshot).toMatchObject({ state: 'closed', failure_count: 0 });
      expect(local.engram.db.policy.poolSnapshot.total_acquired).toBe(acquired);
      expect(lines.filter((l) => l.includes('counting records for the metrics failed'))).toHaveLength(3);
    } finally {
      await local.close();
    }
  });

  it('/metrics - promtool check metrics on a real scrape - no complaint', (ctx) => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      const reason = 'promtool is not on PATH (Debian: apt-get install -y prometheus)';
      if (process.env.CI === 'true') throw new Error(`${reason}; CI requires this check`);
      console.warn(`SKIPPED promtool check: ${reason}`);
      ctx.skip(reason);
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    const complaints = `${check.stdout}${check.stderr}`.trim();
    expect(complaints, 'promtool check metrics complained').toBe('');
    expect(check.status).toBe(0);
  });
});
