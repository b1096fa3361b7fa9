import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// Issue 2 "Done when", RELIABILITY R2/R7: the app on its own sqld; sqld is SIGKILLed: requests answer 503 +
// Retry-After within the deadline, readiness is 503; sqld restarts on the same data: the service recovers
// by itself within a bounded time, the data written before the outage is there, new writes succeed.

const TIMEOUT_MS = 1_000;
const BREAKER_OPEN_MS = 1_000;
/** What a request may take while the database is down: its deadline plus the retry backoff plus slack. */
const DOWN_BUDGET_MS = TIMEOUT_MS + 500;

const EPISODE = {
  task_type: 'debugging',
  task_description: 'survive an outage',
  context: { domain: 'sqld' },
};

let sqld: SqldHandle | undefined;
let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  await sqld?.stop();
  app = undefined;
  sqld = undefined;
});

type Response = Awaited<ReturnType<TestApp['inject']>>;

async function timed(inject: () => Promise<Response>): Promise<{ res: Response; ms: number }> {
  const started = performance.now();
  const res = await inject();
  return { res, ms: performance.now() - started };
}

describe('sqld outage', () => {
  it('sqld SIGKILLed then restarted - fast 503s with Retry-After and ready 503 while down; recovers by itself', async () => {
    sqld = await startSqld({ kind: 'binary' });
    app = await buildTestApp({
      LIBSQL_URL: sqld.url,
      DB_TIMEOUT_MS: TIMEOUT_MS,
      DB_RETRY_MAX_ATTEMPTS: 2,
      DB_RETRY_INITIAL_BACKOFF_MS: 10,
      DB_RETRY_MAX_BACKOFF_MS: 50,
      DB_BREAKER_FAILURE_THRESHOLD: 3,
      DB_BREAKER_TIMEOUT_MS: BREAKER_OPEN_MS,
    });
    const a = app;
    expect(a.engram.db.mode).toBe('remote');

    const created = await a.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(created.statusCode, created.body).toBe(201);
    const episode = created.json();

    await sqld.kill();

    // Down: every request is a 503 problem with Retry-After, within its deadline; never a 2xx, never a hang.
    const down = [
      await timed(() => a.inject({ method: 'GET', url: `/v1/episodes/${episode.id}` })),
      await timed(() => a.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE })),
      await timed(() => a.inject({ method: 'GET', url: '/v1/episodes' })),
      await timed(() => a.inject({ method: 'GET', url: `/v1/episodes/${episode.id}` })),
      await timed(() => a.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE })),
    ];
    for (const { res, ms } of down) {
      expect(res.statusCode, res.body).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('DATABASE_UNAVAILABLE');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(ms).toBeLessThan(DOWN_BUDGET_MS);
    }
    expect(a.engram.db.policy.breakerSnapshot.state).toBe('open');

    // With the breaker open, a 503 is immediate and readiness says why.
    const open: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { res, ms } = await timed(() => a.inject({ method: 'GET', url: `/v1/episodes/${episode.id}` }));
      expect(res.statusCode).toBe(503);
      open.push(ms);
    }
    expect(open.sort((x, y) => x - y)[2], 'median 503 latency with the breaker open').toBeLessThan(50);
    const ready = await a.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not_ready' });
    const health = await a.inject({ method: 'GET', url: '/health' });
    expect(health.json()).toMatchObject({ database: { mode: 'remote' }, circuit_breaker: { state: 'open' } });

    await sqld.restart();

    // Recovery needs no operator. A load balancer sends an unready instance nothing but readiness probes,
    // so readiness alone must find out that the database is back once the breaker's open period is over.
    const bound = BREAKER_OPEN_MS + 5_000;
    const pollUntil = async (check: () => Promise<boolean>) => {
      const started = Date.now();
      let ok = false;
      while (!ok && Date.now() - started < bound) {
        ok = await check();
        if (!ok) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return ok;
    };
    const readyByProbesAlone = await pollUntil(
      async () => (await a.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200,
    );
    expect
      .soft(
        readyByProbesAlone,
        `/health/ready still 503 ${bound} ms after sqld came back, with only readiness probes`,
      )
      .toBe(true);
    // Whatever readiness did, traffic must bring it back within the same bound.
    const servedAgain = await pollUntil(
      async () => (await a.inject({ method: 'GET', url: `/v1/episodes/${episode.id}` })).statusCode === 200,
    );
    expect(servedAgain, `requests still failing ${bound} ms after traffic resumed`).toBe(true);
    expect((await a.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);

    const read = await a.inject({ method: 'GET', url: `/v1/episodes/${episode.id}` });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toEqual(episode);
    const write = await a.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(write.statusCode, write.body).toBe(201);
    expect((await a.inject({ method: 'GET', url: `/v1/episodes/${write.json().id}` })).statusCode).toBe(200);

    // Writes attempted while it was down left nothing behind: exactly the two acknowledged episodes exist.
    const list = await a.inject({ method: 'GET', url: '/v1/episodes?domain=sqld&limit=100' });
    expect(
      list
        .json()
        .items.map((e: { id: string }) => e.id)
        .sort(),
    ).toEqual([episode.id, write.json().id].sort());
  });
});
