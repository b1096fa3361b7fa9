import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, type Sent, send } from '../helpers/backends.js';

// Issue 8 items 1 (bullets 1–2) and 2: reproducers of defects the `foundation` work (issue 7) fixes. They
// FAIL until it lands, so this file is not part of `npm test`: run it with `npx vitest run --project
// regressions`, and move it into test/integration/ (deleting the matching entries of
// test/fuzz/known-defects.ts) once it passes. The expected answers are the issue's: 400 for an end before
// the start (409 on complete), a bounded step number (the issue suggests ≤ 1,000,000: adjust the two
// numbers below to the bound foundation chose), and no PATCH past a limit create enforces.

const HERE = { lat: 48.137, lon: 11.575 };
const PAST = '2000-01-01T00:00:00.000Z';
const FUTURE = '2999-01-01T00:00:00.000Z';
/** The largest step number the issue suggests; one more must be refused. */
const STEP_BOUND = 1_000_000;

/** A 4xx problem that names `path` in its errors (400) or is one of `statuses`. */
function refused(res: Sent, statuses: number[], path?: string): void {
  expect(statuses, JSON.stringify(res.body)).toContain(res.status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (path) expect(res.body.errors).toContainEqual(expect.objectContaining({ path }));
}

describe.each(BACKENDS)('issue 8.1 and 8.2 on $name', ({ build }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(() => app.close());

  const create = async (extra: Record<string, unknown> = {}) => {
    const res = await send(app, 'POST', '/v1/episodes', episodeBody(extra));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };

  it('8.1 - one append of two located steps without step_number - 201, both stored (UNIQUE spatiotemporal_entries today)', async () => {
    const id = await create();
    const res = await send(app, 'POST', `/v1/episodes/${id}/steps`, {
      steps: [
        { tool: 'gps', action: 'a', location: HERE },
        { tool: 'gps', action: 'b', location: HERE },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const listed = await send(app, 'GET', `/v1/episodes/${id}/steps`);
    expect(listed.body.items.map((s: { step_number: number }) => s.step_number)).toEqual([1, 2]);
  });

  it.each([
    ['with a location', { location: HERE }],
    ['without a location', {}],
  ])(
    '8.1 - create with only an end_time in the past (start defaults to now), %s - 400 naming /end_time',
    async (_how, extra) => {
      refused(
        await send(app, 'POST', '/v1/episodes', episodeBody({ end_time: PAST, ...extra })),
        [400],
        '/end_time',
      );
    },
  );

  it.each([
    ['with a location', { location: HERE }],
    ['without a location', {}],
  ])(
    '8.1 - batch with an episode ending before it starts, %s - 400 naming it, nothing stored',
    async (_how, extra) => {
      const agent = `agent-${Math.random()}`;
      const res = await send(app, 'POST', '/v1/episodes/batch', {
        episodes: [
          episodeBody({ agent_id: agent }),
          episodeBody({ agent_id: agent, end_time: PAST, ...extra }),
        ],
      });
      refused(res, [400], '/episodes/1/end_time');
      expect((await send(app, 'GET', `/v1/episodes?agent_id=${agent}`)).body.items).toEqual([]);
    },
  );

  it.each([
    ['with a location', { location: HERE }],
    ['without a location', {}],
  ])(
    '8.1 - complete an episode that starts in the future, %s - 409, still in progress',
    async (_how, extra) => {
      const id = await create({ start_time: FUTURE, ...extra });
      refused(
        await send(app, 'POST', `/v1/episodes/${id}/complete`, { outcome: { type: 'failure', reason: 'x' } }),
        [409],
      );
      expect((await send(app, 'GET', `/v1/episodes/${id}`)).body.status).toBe('in_progress');
    },
  );

  it('8.1 - PATCH end_time before start_time, then PATCH location - the first is a 400, the second a 200', async () => {
    const id = await create({ start_time: '2020-01-01T00:00:00.000Z' });
    refused(await send(app, 'PATCH', `/v1/episodes/${id}`, { end_time: PAST }), [400], '/end_time');
    const located = await send(app, 'PATCH', `/v1/episodes/${id}`, { location: HERE });
    expect(located.status, JSON.stringify(located.body)).toBe(200);
    expect(located.body.end_time).toBeNull();
  });

  it(`8.2 - step_number ${STEP_BOUND + 1} and 2^53-1 - 400 naming /step_number`, async () => {
    const id = await create();
    for (const n of [STEP_BOUND + 1, Number.MAX_SAFE_INTEGER]) {
      refused(
        await send(app, 'POST', `/v1/episodes/${id}/steps`, { step_number: n, tool: 't', action: 'a' }),
        [400],
        '/step_number',
      );
    }
  });

  it(`8.2 - auto-numbered appends after step ${STEP_BOUND} - refused, no duplicate, the step cursor ends`, async () => {
    const id = await create();
    const first = await send(app, 'POST', `/v1/episodes/${id}/steps`, {
      step_number: STEP_BOUND,
      tool: 't',
      action: 'a',
    });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    for (let i = 0; i < 3; i++) {
      const res = await send(app, 'POST', `/v1/episodes/${id}/steps`, { tool: 't', action: `auto ${i}` });
      expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    let cursor: string | null = null;
    const numbers: number[] = [];
    for (let page = 0; page < 10; page++) {
      const res = await send(
        app,
        'GET',
        `/v1/episodes/${id}/steps?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      numbers.push(...res.body.items.map((s: { step_number: number }) => s.step_number));
      cursor = res.body.next_cursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(numbers).toEqual([STEP_BOUND]);
  });

  it('8.2 - 100 metadata keys, then a PATCH adding a 101st - refused, still 100; replacing one - 200', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']));
    const id = await create({ metadata });
    refused(
      await send(app, 'PATCH', `/v1/episodes/${id}`, { metadata: { k100: 'v' } }),
      [400, 413],
      '/metadata',
    );
    expect(Object.keys((await send(app, 'GET', `/v1/episodes/${id}`)).body.metadata)).toHaveLength(100);
    const replaced = await send(app, 'PATCH', `/v1/episodes/${id}`, { metadata: { k0: null, k100: 'v' } });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(Object.keys(replaced.body.metadata)).toHaveLength(100);
  });
});
