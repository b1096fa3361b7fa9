import { afterEach, describe, expect, it } from 'vitest';
import { createDriver } from '../../src/db/create-database.js';
import { classifyDbError } from '../../src/db/errors.js';
import { buildTestApp, type TestApp, testConfig } from '../helpers/app.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// Issue 14: sqld run with a periodic checkpoint (the setting that avoids its write livelock, see
// docs/upstream/sqld-checkpoint-livelock.md) answers the writers waiting at each checkpoint with SQLITE_BUSY.
// That is contention: the writes are retried and succeed, and the breaker stays closed (with BUSY counted
// against it, it opened at the first checkpoint and answered 503 while sqld was healthy).

const WRITERS = 8;
const MIN_MS = 5_000;
const MAX_MS = 40_000;

let sqld: SqldHandle | undefined;
let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  await sqld?.stop();
  app = undefined;
  sqld = undefined;
});

describe('sqld with a periodic checkpoint', () => {
  it('8 writers across checkpoints every second - BUSY answers are retried, every write succeeds, a breaker with threshold 1 never opens', async () => {
    sqld = await startSqld({ kind: 'binary', flags: ['--checkpoint-interval-s', '1'] });
    // A breaker that opens at the first failure it counts: any BUSY counted would open it.
    const env = { LIBSQL_URL: sqld.url, DB_BREAKER_FAILURE_THRESHOLD: 1 };
    // Counts the BUSY answers sqld gives, so the test knows it exercised them.
    const driver = createDriver(testConfig(env));
    const transaction = driver.transaction.bind(driver);
    let busy = 0;
    driver.transaction = async (stmts) => {
      try {
        return await transaction(stmts);
      } catch (err) {
        if (classifyDbError(err).kind === 'busy') busy++;
        throw err;
      }
    };
    app = await buildTestApp(env, { driver });
    const a = app;

    const started = Date.now();
    const failures: string[] = [];
    let written = 0;
    const writer = async () => {
      while (Date.now() - started < MAX_MS && (busy === 0 || Date.now() - started < MIN_MS)) {
        const res = await a.inject({
          method: 'POST',
          url: '/v1/episodes',
          payload: {
            task_type: 'testing',
            task_description: `checkpoint contention ${written}`,
            context: { domain: 'checkpoint', tags: ['a', 'b'] },
            steps: [
              { tool: 'bash', action: 'npm test' },
              { tool: 'editor', action: 'fix' },
            ],
          },
        });
        if (res.statusCode === 201) written++;
        else failures.push(`${res.statusCode} ${res.body}`);
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
    console.log(
      `checkpoint contention: ${written} writes in ${Date.now() - started} ms, ${busy} BUSY answers`,
    );

    expect(busy, 'sqld answered no write with BUSY: the scenario did not happen').toBeGreaterThan(0);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(a.engram.db.policy.breakerSnapshot.state).toBe('closed');
    const metrics = await a.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^engram_db_circuit_breaks_total 0$/m);
  });
});
