import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverCall, TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, rowCount, send } from '../helpers/backends.js';

// SPEC §5, issue 7.1: no write is applied twice, and none is reported failed when it committed. Faults are
// injected once into the write that carries a marker (an id in its statements), at each point:
// BEFORE the call (nothing applied), AFTER the commit (the answer is lost: a connection reset) and DURING
// it (the commit happens, its answer comes after the deadline). Every write, with and without an
// Idempotency-Key: the counts and step numbers stored are exact and the answer is true to what was stored.

// Short enough to wait out in a test, long enough that a loaded machine rarely misses it on its own.
const DEADLINE_MS = 2_000;
const FAULTS = {
  before: 'refused before the call',
  after: 'connection reset after the commit',
  during: 'answer after the deadline',
} as const;
type FaultPoint = keyof typeof FAULTS;

const refused = () =>
  new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
  });
const reset = () =>
  new TypeError('fetch failed', {
    cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
  });

const isWrite = (call: DriverCall) => call.op === 'transaction' || call.op === 'group';
const carries = (call: DriverCall, marker: string) =>
  call.stmts.some((s) => s.args.some((a) => typeof a === 'string' && a.includes(marker)));

/** Injects `point` into the first write that carries `marker`, once. */
function armOnce(app: TestApp, point: FaultPoint, marker: string): () => boolean {
  let fired = false;
  const hits = (call: DriverCall) => {
    if (fired || !isWrite(call) || !carries(call, marker)) return false;
    fired = true;
    return true;
  };
  const previous = { fault: app.faults.fault, afterCall: app.faults.afterCall };
  const chain =
    (own: (call: DriverCall) => undefined | Promise<void>, next: typeof previous.fault) =>
    (call: DriverCall) => {
      const mine = own(call);
      return mine ?? next?.(call);
    };
  if (point === 'before') {
    app.faults.fault = chain((call) => {
      if (hits(call)) throw refused();
      return undefined;
    }, previous.fault);
  } else {
    app.faults.afterCall = chain((call) => {
      if (!hits(call)) return undefined;
      if (point === 'after') throw reset();
      return sleep(DEADLINE_MS + 300);
    }, previous.afterCall);
  }
  return () => fired;
}

const steps = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ tool: 'bash', action: `${tag} ${i}` }));

describe.each(BACKENDS)('write retries on $name', ({ build, groupCommit }) => {
  const cases = Object.keys(FAULTS).flatMap((point) =>
    [false, true].map((withKey) => [point as FaultPoint, withKey] as const),
  );

  // Each case has its own app, and the cases run side by side. With group commit a fault fails the whole
  // group, so there a case's writes go one at a time: each fault is the only one its write meets
  // (concurrent faults would each cost the group's retries an attempt).
  describe.concurrent.each(cases)('fault %s, Idempotency-Key %s', (point, withKey) => {
    const writes = groupCommit ? describe.sequential : describe;
    writes('every write', () => {
      let app: TestApp;
      beforeAll(async () => {
        // Many faults at once must not open the breaker: this file is about what a retry does.
        app = await build(
          {
            DB_TIMEOUT_MS: DEADLINE_MS,
            DB_RETRY_INITIAL_BACKOFF_MS: 10,
            DB_BREAKER_FAILURE_THRESHOLD: 1_000,
          },
          { faults: true },
        );
      });
      afterAll(async () => {
        await app.close();
      });

      const count = (table: string, where: string, ...args: string[]) => rowCount(app, table, where, ...args);
      const keyed = (): Record<string, string> => (withKey ? { 'idempotency-key': randomUUID() } : {});
      const created = async () =>
        (await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: randomUUID() }))).body;

      it('create: one episode, answered 201 with what was stored', async () => {
        const agent = randomUUID();
        const fired = armOnce(app, point, agent);
        const res = await send(
          app,
          'POST',
          '/v1/episodes',
          episodeBody({ agent_id: agent, steps: steps(3, 's') }),
          keyed(),
        );
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(await count('episodes', 'agent_id = ?', agent)).toBe(1);
        expect(await count('steps', 'episode_id = ?', res.body.id)).toBe(3);
        expect((await send(app, 'GET', `/v1/episodes/${res.body.id}`)).body).toEqual(res.body);
      });

      it('batch: every episode once, answered 201 with their ids', async () => {
        const agent = randomUUID();
        const fired = armOnce(app, point, agent);
        const res = await send(
          app,
          'POST',
          '/v1/episodes/batch',
          { episodes: Array.from({ length: 5 }, () => episodeBody({ agent_id: agent })) },
          keyed(),
        );
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(await count('episodes', 'agent_id = ?', agent)).toBe(5);
        const listed = (await send(app, 'GET', `/v1/episodes?agent_id=${agent}`)).body.items.map(
          (e: { id: string }) => e.id,
        );
        expect(listed.sort()).toEqual([...res.body.ids].sort());
      });

      it('auto-numbered append: the steps once, with the numbers that were stored', async () => {
        const e = await created();
        const fired = armOnce(app, point, e.id);
        const res = await send(
          app,
          'POST',
          `/v1/episodes/${e.id}/steps`,
          { steps: steps(3, 'auto') },
          keyed(),
        );
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body.items.map((s: { step_number: number }) => s.step_number)).toEqual([1, 2, 3]);
        const stored = (await send(app, 'GET', `/v1/episodes/${e.id}/steps`)).body.items;
        expect(stored).toEqual(res.body.items);
        expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body).toMatchObject({
          step_count: 3,
          version: 2,
        });
      });

      it('auto-numbered single step: stored once, its number answered', async () => {
        const e = await created();
        await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 't', action: 'first' });
        const fired = armOnce(app, point, e.id);
        const res = await send(
          app,
          'POST',
          `/v1/episodes/${e.id}/steps`,
          { tool: 't', action: 'second', location: { lat: 1, lon: 2 } },
          keyed(),
        );
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body.step_number).toBe(2);
        expect(res.headers.location).toBe(`/v1/episodes/${e.id}/steps/2`);
        expect((await send(app, 'GET', `/v1/episodes/${e.id}/steps/2`)).body).toEqual(res.body);
        expect(await count('steps', 'episode_id = ?', e.id)).toBe(2);
        expect(await count('spatiotemporal_entries', 'episode_id = ?', e.id)).toBe(1);
      });

      it('numbered append: stored once, answered 201 (not a conflict with itself)', async () => {
        const e = await created();
        const fired = armOnce(app, point, e.id);
        const body = {
          steps: [
            { tool: 't', action: 'a', step_number: 7 },
            { tool: 't', action: 'b', step_number: 9 },
          ],
        };
        const res = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, body, keyed());
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect((await send(app, 'GET', `/v1/episodes/${e.id}/steps`)).body.items).toEqual(res.body.items);
        expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body).toMatchObject({
          step_count: 2,
          version: 2,
        });
      });

      it('patch: applied once (one new version), answered with it', async () => {
        const e = await created();
        const fired = armOnce(app, point, e.id);
        const res = await send(
          app,
          'PATCH',
          `/v1/episodes/${e.id}`,
          { metadata: { retried: 'once' } },
          { 'if-match': '"1"' },
        );
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.version).toBe(2);
        expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body).toEqual(res.body);
      });

      it('complete: answered 200 with the completed episode, not 409', async () => {
        const e = await created();
        const fired = armOnce(app, point, e.id);
        const outcome = { type: 'success', verdict: 'done', artifacts: [] };
        const res = await send(app, 'POST', `/v1/episodes/${e.id}/complete`, { outcome }, keyed());
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body).toMatchObject({ status: 'completed', version: 2, outcome });
        expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body).toEqual(res.body);
      });

      it('delete: answered with what it deleted, not 404', async () => {
        const e = (
          await send(
            app,
            'POST',
            '/v1/episodes',
            episodeBody({ tags: ['aa', 'bb'], steps: steps(2, 'd'), location: { lat: 3, lon: 4 } }),
          )
        ).body;
        const fired = armOnce(app, point, e.id);
        const res = await send(app, 'DELETE', `/v1/episodes/${e.id}?report=true`);
        expect(fired()).toBe(true);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body).toEqual({
          episodes: 1,
          steps: 2,
          tags: 2,
          embeddings: 0,
          spatiotemporal_entries: 1,
        });
        expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).status).toBe(404);
      });
    });
  });
});
