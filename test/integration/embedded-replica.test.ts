import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// Embedded replica mode (LIBSQL_SYNC_URL): reads from the local file, writes forwarded to the primary,
// read-your-writes for the writing instance, and the mode and last sync in /health (RELIABILITY R16).

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('embedded replica of a sqld primary', () => {
  let primary: SqldHandle;
  let replica: TestApp;
  let writer: TestApp;

  beforeAll(async () => {
    primary = await startSqld({ kind: 'binary' });
    const fast = { DB_TIMEOUT_MS: 1000, DB_RETRY_MAX_ATTEMPTS: 1, DB_BREAKER_TIMEOUT_MS: 500 };
    writer = await buildTestApp({ LIBSQL_URL: primary.url, ...fast }); // migrates the primary
    // The local file is buildTestApp's temp file; LIBSQL_SYNC_URL makes it a replica of the primary.
    replica = await buildTestApp({ LIBSQL_SYNC_URL: primary.url, LIBSQL_SYNC_INTERVAL_S: 1, ...fast });
  });
  afterAll(async () => {
    await replica?.close();
    await writer?.close();
    await primary?.stop();
  });

  it('health: reports the embedded_replica mode and a last sync time', async () => {
    const health = await send(replica, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.database.mode).toBe('embedded_replica');
    expect(Date.parse(health.body.database.last_sync_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('read-your-writes: an episode written through the replica is readable from it at once', async () => {
    const created = await send(
      replica,
      'POST',
      '/v1/episodes',
      episodeBody({ steps: [{ tool: 't', action: 'a' }] }),
    );
    expect(created.status).toBe(201);
    const got = await send(replica, 'GET', `/v1/episodes/${created.body.id}?include=steps`);
    expect(got.status).toBe(200);
    expect(got.body.steps).toHaveLength(1);
    // ... and it reached the primary.
    expect((await send(writer, 'GET', `/v1/episodes/${created.body.id}`)).status).toBe(200);
  });

  it('sync: an episode written elsewhere reaches the replica', async () => {
    const created = await send(writer, 'POST', '/v1/episodes', episodeBody());
    const got = await until(
      () => send(replica, 'GET', `/v1/episodes/${created.body.id}`),
      (r) => r.status === 200,
    );
    expect(got.status).toBe(200);
  });

  it('primary down: reads keep working, writes fail fast with 503, and resume after a restart', async () => {
    const before = await send(replica, 'POST', '/v1/episodes', episodeBody());
    await primary.kill();
    const read = await send(replica, 'GET', `/v1/episodes/${before.body.id}`);
    expect(read.status).toBe(200);
    const started = Date.now();
    const write = await send(replica, 'POST', '/v1/episodes', episodeBody());
    expect(write.status).toBe(503);
    expect(write.headers['retry-after']).toBeDefined();
    expect(Date.now() - started).toBeLessThan(3_000);
    await primary.restart();
    const after = await until(
      () => send(replica, 'POST', '/v1/episodes', episodeBody()),
      (r) => r.status === 201,
    );
    expect(after.status).toBe(201);
  });
});
