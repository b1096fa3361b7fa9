import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverCall, TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, rowCount, send } from '../helpers/backends.js';

// Found by the flaky-network test (issue 13.2): a write commits, its answer is lost, the retry meets the
// write's claim, and reading the claim's result back fails too. The write HAS been applied, so the answer
// must be 503 WRITE_OUTCOME_UNKNOWN (repeat with the same key), never DATABASE_UNAVAILABLE (it failed).

const reset = () =>
  new TypeError('fetch failed', {
    cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
  });
const isWrite = (call: DriverCall) => call.op === 'transaction' || call.op === 'group';
const carries = (call: DriverCall, marker: string) =>
  call.stmts.some((s) => s.args.some((a) => typeof a === 'string' && a.includes(marker)));
// The recall reads through the write path (so no replica answers it stale): it may be any kind of call.
const readsClaim = (call: DriverCall) =>
  call.stmts.some((s) => s.sql.startsWith('SELECT') && s.sql.includes('FROM idempotency_keys'));

describe.each(BACKENDS)('a claim recall that fails on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build({ DB_RETRY_INITIAL_BACKOFF_MS: 10 }, { faults: true });
  });
  afterAll(() => app?.close());

  it('write committed, answer lost, recall fails - 503 WRITE_OUTCOME_UNKNOWN; the same key then answers it', async () => {
    const id = randomUUID();
    const key = randomUUID();
    let committed = false;
    app.faults.afterCall = (call) => {
      if (committed || !isWrite(call) || !carries(call, id)) return undefined;
      committed = true;
      throw reset(); // the commit happened; its answer is lost
    };
    app.faults.fault = (call) => {
      if (committed && readsClaim(call)) throw reset();
      return undefined;
    };
    const first = await send(app, 'POST', '/v1/episodes', episodeBody({ id }), { 'idempotency-key': key });
    expect(committed).toBe(true);
    expect(first.status, JSON.stringify(first.body)).toBe(503);
    expect(first.body.code).toBe('WRITE_OUTCOME_UNKNOWN');
    expect(await rowCount(app, 'episodes', 'id = ?', id)).toBe(1);

    app.faults.fault = undefined;
    app.faults.afterCall = undefined;
    const again = await send(app, 'POST', '/v1/episodes', episodeBody({ id }), { 'idempotency-key': key });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.id).toBe(id);
    expect(await rowCount(app, 'episodes', 'id = ?', id)).toBe(1);
  });
});
