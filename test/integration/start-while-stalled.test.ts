import { afterEach, describe, expect, it } from 'vitest';
import { createDriver } from '../../src/db/create-database.js';
import { buildTestApp, FaultyDriver, type TestApp, testConfig } from '../helpers/app.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// Issue 14: an instance that starts while its database does not answer starts unready instead of crash-looping
// on its start-up migration, and joins (ready) by itself once the database answers; one that starts while
// writes stall but reads answer finds the schema current and starts ready without writing.

const TIMEOUT_MS = 500;
const EPISODE = { task_type: 'debugging', task_description: 'start unready', context: { domain: 'start' } };

let sqld: SqldHandle | undefined;
const apps: TestApp[] = [];
afterEach(async () => {
  await sqld?.resume();
  for (const app of apps.splice(0)) await app.close();
  await sqld?.stop();
  sqld = undefined;
});

async function pollUntil(check: () => Promise<boolean>, boundMs: number): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < boundMs) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

describe('start while the database does not answer', () => {
  it('fresh sqld stalled (SIGSTOP) at start - the app starts unready with 503s, then migrates and serves once sqld answers', async () => {
    sqld = await startSqld({ kind: 'binary' });
    await sqld.pause();
    // It starts (buildApp resolves after one attempt at its deadline) instead of throwing, which made the
    // server exit and its container restart, over and over.
    const app = await buildTestApp({
      LIBSQL_URL: sqld.url,
      DB_TIMEOUT_MS: TIMEOUT_MS,
      DB_RETRY_MAX_ATTEMPTS: 1,
    });
    apps.push(app);

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().status).toBe('not_ready');
    const write = await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(write.statusCode, write.body).toBe(503);
    expect(write.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    expect(write.headers['retry-after']).toBe('1');
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    await sqld.resume();
    const joined = await pollUntil(
      async () => (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200,
      10_000,
    );
    expect(joined, 'still unready 10 s after sqld answered again').toBe(true);
    const created = await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(created.statusCode, created.body).toBe(201);
    const read = await app.inject({ method: 'GET', url: `/v1/episodes/${created.json().id}` });
    expect(read.statusCode).toBe(200);
  });

  it('schema already current, every write timing out (a write stall) - the app starts ready, writing nothing, and serves reads', async () => {
    sqld = await startSqld({ kind: 'binary' });
    const first = await buildTestApp({ LIBSQL_URL: sqld.url });
    apps.push(first);
    const created = await first.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(created.statusCode).toBe(201);

    // A second instance whose writes all time out from its first call on; its reads get through.
    const env = { LIBSQL_URL: sqld.url, DB_RETRY_MAX_ATTEMPTS: 1 };
    const stalled = new FaultyDriver(createDriver(testConfig(env)));
    const writes: string[] = [];
    stalled.fault = ({ op, stmts }) => {
      if (op === 'query') return undefined;
      // Every call on the writer's path stalls; what counts is a statement that writes. (A read of the latest
      // state, like the embedding indexer's look for unindexed models, takes that path and stalls too.)
      const written = stmts.filter((s) => !/^\s*SELECT\b/i.test(s.sql));
      if (written.length > 0) writes.push(written[0]?.sql ?? '');
      throw new DOMException('The operation timed out.', 'TimeoutError');
    };
    const second = await buildTestApp(env, { driver: stalled });
    apps.push(second);
    expect(writes, `start-up tried to write: ${writes.join(' | ').slice(0, 500)}`).toEqual([]);
    expect((await second.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    const read = await second.inject({ method: 'GET', url: `/v1/episodes/${created.json().id}` });
    expect(read.statusCode, read.body).toBe(200);
  });
});
