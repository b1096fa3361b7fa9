import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, rowCount, send } from '../helpers/backends.js';

// Issue 8.1 (bullets 1 and 2) and 8.2, on both backends: inputs that reached the database as 500s, and
// sequences that broke an invariant. Each is a 4xx now, and nothing of the request is stored.

const future = (ms: number) => new Date(Date.now() + ms).toISOString();
const past = (ms: number) => new Date(Date.now() - ms).toISOString();
const HERE = { lat: 48.1, lon: 11.5 };

describe.each(BACKENDS)('invariants on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  const count = (table: string, where: string, ...args: string[]) => rowCount(app, table, where, ...args);
  const expect400 = (res: { status: number; body: { errors?: unknown[] } }, path: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.errors).toContainEqual({ in: 'body', path, message: expect.any(String) });
  };

  it('located steps appended together without numbers - each indexed under its own number', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody({ location: HERE }));
    const located = (action: string) => ({ tool: 't', action, location: HERE });
    const res = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
      steps: [located('a'), located('b'), located('c')],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const numbers = await app.engram.db.read(
      'SELECT step_number FROM spatiotemporal_entries WHERE episode_id = ? ORDER BY step_number',
      [e.id],
    );
    expect(numbers.map((r) => r.step_number)).toEqual([0, 1, 2, 3]);
    // Mixed with unlocated steps and a second append: still one entry per located step.
    await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
      steps: [{ tool: 't', action: 'd' }, located('e')],
    });
    expect(await count('spatiotemporal_entries', 'episode_id = ?', e.id)).toBe(5);
    expect(
      (
        await app.engram.db.read(
          'SELECT step_number FROM spatiotemporal_entries WHERE episode_id = ? AND step_number = 5',
          [e.id],
        )
      ).length,
    ).toBe(1);
  });

  describe.each([
    ['with a location', { location: HERE }],
    ['without a location', {}],
  ])('an end before the start, %s', (_name, located) => {
    it('create, only end_time sent (the start is now) - 400 naming end_time, nothing stored', async () => {
      const agent = randomUUID();
      expect400(
        await send(
          app,
          'POST',
          '/v1/episodes',
          episodeBody({ agent_id: agent, end_time: past(60_000), ...located }),
        ),
        '/end_time',
      );
      expect(await count('episodes', 'agent_id = ?', agent)).toBe(0);
    });

    it('create, both sent - 400 naming end_time', async () => {
      expect400(
        await send(
          app,
          'POST',
          '/v1/episodes',
          episodeBody({ start_time: past(1_000), end_time: past(2_000), ...located }),
        ),
        '/end_time',
      );
    });

    it('batch - 400 naming the episode and its end_time, none stored', async () => {
      const agent = randomUUID();
      const res = await send(app, 'POST', '/v1/episodes/batch', {
        episodes: [
          episodeBody({ agent_id: agent }),
          episodeBody({ agent_id: agent, end_time: past(60_000), ...located }),
        ],
      });
      expect400(res, '/episodes/1/end_time');
      expect(await count('episodes', 'agent_id = ?', agent)).toBe(0);
    });

    it('patch of end_time, then of the location - 400 at the first, the episode unchanged', async () => {
      const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody({ start_time: past(1_000) }));
      expect400(
        await send(app, 'PATCH', `/v1/episodes/${e.id}`, { end_time: past(60_000), ...located }),
        '/end_time',
      );
      const patched = await send(app, 'PATCH', `/v1/episodes/${e.id}`, { location: HERE });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ end_time: null, version: 2 });
    });

    it('complete of an episode that starts in the future - 409, still in progress', async () => {
      const { body: e } = await send(
        app,
        'POST',
        '/v1/episodes',
        episodeBody({ start_time: future(3_600_000), ...located }),
      );
      const res = await send(app, 'POST', `/v1/episodes/${e.id}/complete`, {
        outcome: { type: 'failure', reason: 'r' },
      });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('END_BEFORE_START');
      const given = await send(app, 'POST', `/v1/episodes/${e.id}/complete`, {
        outcome: { type: 'failure', reason: 'r' },
        end_time: past(0),
      });
      expect(given.body.code).toBe('END_BEFORE_START');
      expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body).toMatchObject({
        status: 'in_progress',
        version: 1,
      });
    });
  });

  it('step numbers - bounded at 1,000,000 on every path', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    // 2^53 - 1 is the reproducer: three auto-numbered appends after it gave duplicates.
    for (const stepNumber of [1_000_001, 2 ** 53 - 1]) {
      expect400(
        await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
          tool: 't',
          action: 'a',
          step_number: stepNumber,
        }),
        '/step_number',
      );
    }
    expect400(
      await send(
        app,
        'POST',
        '/v1/episodes',
        episodeBody({ steps: [{ tool: 't', action: 'a', step_number: 2 ** 53 - 1 }] }),
      ),
      '/steps/0/step_number',
    );
    // The next free number of a create would pass the bound.
    expect400(
      await send(
        app,
        'POST',
        '/v1/episodes',
        episodeBody({
          steps: [
            { tool: 't', action: 'a', step_number: 1_000_000 },
            { tool: 't', action: 'b' },
          ],
        }),
      ),
      '/steps/1/step_number',
    );
    expect((await send(app, 'GET', `/v1/episodes/${e.id}/steps/1000001`)).status).toBe(400);
  });

  it('auto-numbering after the highest number - refused (409), nothing stored; the explicit numbers below still work', async () => {
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody());
    expect(
      (
        await send(app, 'POST', `/v1/episodes/${e.id}/steps`, {
          tool: 't',
          action: 'top',
          step_number: 999_999,
        })
      ).status,
    ).toBe(201);
    const last = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 't', action: 'last free' });
    expect(last.body.step_number).toBe(1_000_000);
    for (const body of [
      { tool: 't', action: 'x' },
      {
        steps: [
          { tool: 't', action: 'x' },
          { tool: 't', action: 'y' },
        ],
      },
    ]) {
      const refused = await send(app, 'POST', `/v1/episodes/${e.id}/steps`, body);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('STEP_NUMBERS_EXHAUSTED');
    }
    expect(
      (await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 't', action: 'low', step_number: 5 }))
        .status,
    ).toBe(201);
    expect((await send(app, 'GET', `/v1/episodes/${e.id}`)).body.step_count).toBe(3);
    const pages = await send(app, 'GET', `/v1/episodes/${e.id}/steps?limit=2`);
    const rest = await send(
      app,
      'GET',
      `/v1/episodes/${e.id}/steps?limit=2&cursor=${pages.body.next_cursor}`,
    );
    expect(
      [...pages.body.items, ...rest.body.items].map((s: { step_number: number }) => s.step_number),
    ).toEqual([5, 999_999, 1_000_000]);
    expect(rest.body.next_cursor).toBeNull();
  });

  it('metadata merged by PATCH past 100 keys - 400 naming metadata, the episode unchanged', async () => {
    const full = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']));
    const { body: e } = await send(app, 'POST', '/v1/episodes', episodeBody({ metadata: full }));
    expect400(await send(app, 'PATCH', `/v1/episodes/${e.id}`, { metadata: { one_more: 'v' } }), '/metadata');
    // Replacing a key, or deleting one to make room, is fine.
    expect((await send(app, 'PATCH', `/v1/episodes/${e.id}`, { metadata: { k0: 'w' } })).status).toBe(200);
    const swapped = await send(app, 'PATCH', `/v1/episodes/${e.id}`, {
      metadata: { k1: null, one_more: 'v' },
    });
    expect(swapped.status).toBe(200);
    expect(Object.keys(swapped.body.metadata)).toHaveLength(100);
  });

  it('a PATCH that grows the episode past 10 MB - 400 naming the record, nothing changed', async () => {
    const artifact = 'x'.repeat(1024 * 1024 - 100);
    const metadata = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`m${i}`, 'y'.repeat(10_000)]));
    const created = await send(app, 'POST', '/v1/episodes', episodeBody({ metadata }));
    expect(created.status, created.body.code).toBe(201);
    // 10 MB of artifacts: the patch itself is under the body limit, the merged episode over 10 MB.
    const outcome = { type: 'success', verdict: 'v', artifacts: Array.from({ length: 10 }, () => artifact) };
    const res = await send(app, 'PATCH', `/v1/episodes/${created.body.id}`, { outcome });
    expect(res.status, res.body.code).toBe(400);
    expect(res.body.errors).toContainEqual({
      in: 'body',
      path: '/',
      message: expect.stringMatching(/10485760 bytes/),
    });
    expect((await send(app, 'GET', `/v1/episodes/${created.body.id}`)).body.version).toBe(1);
  });
});
