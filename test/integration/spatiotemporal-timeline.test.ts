import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketBoundaries } from '../../src/domain/spatiotemporal.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send, uniqueAgent } from '../helpers/backends.js';
import { buildIdentityApp } from '../helpers/identities.js';

// GET /v1/spatiotemporal/timeline and /domains (issue 12.3, 12.8) on both backends. Each test writes its
// episodes in a window of its own, under its own agent or domain, so that the shared sqld's other data stays out.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

describe.each(BACKENDS)('timeline and domains on $name', ({ build, env }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await build();
  });
  afterAll(async () => {
    await app.close();
  });

  const get = (url: string) => send(app, 'GET', url);

  it('day buckets in UTC - counts, completions, successes, success rate, mean reward, top tools; empty days included', async () => {
    const agent = uniqueAgent();
    const day0 = Date.parse('2001-03-05T00:00:00.000Z');
    const success = { type: 'success', verdict: 'ok', artifacts: [] };
    const reward = (total: number) => ({
      total,
      base: total,
      efficiency: 1,
      complexity_bonus: 0,
      quality_multiplier: 1,
      learning_bonus: 0,
    });
    const steps = (at: number, tools: string[]) =>
      tools.map((tool, i) => ({ tool, action: 'a', timestamp: iso(at + i * 1000) }));
    const res = await send(app, 'POST', '/v1/episodes/batch', {
      episodes: [
        episodeBody({
          agent_id: agent,
          start_time: iso(day0 + HOUR),
          end_time: iso(day0 + 2 * HOUR),
          outcome: success,
          reward: reward(1),
          steps: steps(day0 + HOUR, ['grep', 'edit', 'grep', 'test', 'grep', 'edit', 'ls', 'cat', 'vim']),
        }),
        episodeBody({
          agent_id: agent,
          start_time: iso(day0 + 5 * HOUR),
          end_time: iso(day0 + 6 * HOUR),
          outcome: { type: 'failure', reason: 'r' },
          reward: reward(0.5),
        }),
        episodeBody({ agent_id: agent, start_time: iso(day0 + 23 * HOUR) }),
        episodeBody({
          agent_id: agent,
          start_time: iso(day0 + 2 * DAY + HOUR),
          steps: steps(day0 + 2 * DAY, ['ls']),
        }),
        episodeBody({ agent_id: agent, start_time: iso(day0 + 3 * DAY), context: { domain: 'later' } }),
        episodeBody({ agent_id: agent, start_time: iso(day0 + HOUR), archived: true }),
      ],
    });
    expect(res.status).toBe(201);
    const timeline = await get(
      `/v1/spatiotemporal/timeline?bucket=day&from=${iso(day0 + 12 * HOUR)}&to=${iso(day0 + 3 * DAY)}&agent_id=${agent}`,
    );
    expect(timeline.status, JSON.stringify(timeline.body)).toBe(200);
    expect(timeline.body).toEqual({
      bucket: 'day',
      tz: 'UTC',
      from: iso(day0 + 12 * HOUR),
      to: iso(day0 + 3 * DAY),
      buckets: [
        {
          start: iso(day0),
          episodes: 3,
          completed: 2,
          successes: 1,
          success_rate: 0.5,
          avg_reward: 0.75,
          top_tools: [
            { tool: 'grep', uses: 3 },
            { tool: 'edit', uses: 2 },
            { tool: 'cat', uses: 1 },
            { tool: 'ls', uses: 1 },
            { tool: 'test', uses: 1 },
          ],
        },
        {
          start: iso(day0 + DAY),
          episodes: 0,
          completed: 0,
          successes: 0,
          success_rate: null,
          avg_reward: null,
          top_tools: [],
        },
        {
          start: iso(day0 + 2 * DAY),
          episodes: 1,
          completed: 0,
          successes: 0,
          success_rate: null,
          avg_reward: null,
          top_tools: [{ tool: 'ls', uses: 1 }],
        },
      ],
    });
    // Filters: a domain; hours add up to the days.
    const later = await get(
      `/v1/spatiotemporal/timeline?bucket=month&from=${iso(day0)}&to=${iso(day0 + 4 * DAY)}&agent_id=${agent}&domain=later`,
    );
    expect(later.body.buckets.map((b: { start: string; episodes: number }) => [b.start, b.episodes])).toEqual(
      [['2001-03-01T00:00:00.000Z', 1]],
    );
    const hours = await get(
      `/v1/spatiotemporal/timeline?bucket=hour&from=${iso(day0)}&to=${iso(day0 + 4 * DAY)}&agent_id=${agent}`,
    );
    expect(hours.body.buckets).toHaveLength(96);
    expect(hours.body.buckets.reduce((n: number, b: { episodes: number }) => n + b.episodes, 0)).toBe(5);
  });

  it('tz and weeks - buckets follow the wall clock of the zone (midnight in Berlin, Mondays, DST)', async () => {
    const agent = uniqueAgent();
    // 2001-03-25: Berlin moves from UTC+1 to UTC+2. 23:30 UTC on the 24th is already the 25th in Berlin.
    await send(app, 'POST', '/v1/episodes/batch', {
      episodes: [
        episodeBody({ agent_id: agent, start_time: '2001-03-24T23:30:00.000Z' }),
        episodeBody({ agent_id: agent, start_time: '2001-03-25T22:30:00.000Z' }),
      ],
    });
    const berlin = await get(
      `/v1/spatiotemporal/timeline?bucket=day&tz=Europe/Berlin&from=2001-03-24T12:00:00Z&to=2001-03-26T12:00:00Z&agent_id=${agent}`,
    );
    expect(berlin.status, JSON.stringify(berlin.body)).toBe(200);
    expect(
      berlin.body.buckets.map((b: { start: string; episodes: number }) => [b.start, b.episodes]),
    ).toEqual([
      ['2001-03-23T23:00:00.000Z', 0],
      ['2001-03-24T23:00:00.000Z', 1], // the 25th: 23 hours long
      ['2001-03-25T22:00:00.000Z', 1],
    ]);
    const weeks = await get(
      `/v1/spatiotemporal/timeline?bucket=week&from=2001-03-21T00:00:00Z&to=2001-03-27T00:00:00Z&agent_id=${agent}`,
    );
    expect(weeks.body.buckets.map((b: { start: string; episodes: number }) => [b.start, b.episodes])).toEqual(
      [
        ['2001-03-19T00:00:00.000Z', 2], // a Monday; the 25th is a Sunday
        ['2001-03-26T00:00:00.000Z', 0],
      ],
    );
  });

  it('domains - episodes per domain and task type that started in the window, the busiest first', async () => {
    const [a, b] = [`dom-${randomUUID()}`, `dom-${randomUUID()}`];
    const start = iso(Date.parse('1999-06-01T00:00:00Z'));
    await send(app, 'POST', '/v1/episodes/batch', {
      episodes: [
        episodeBody({ context: { domain: a }, start_time: start }),
        episodeBody({
          context: { domain: a },
          start_time: start,
          end_time: start,
          outcome: { type: 'success', verdict: 'v', artifacts: [] },
        }),
        episodeBody({ context: { domain: a }, start_time: start, task_type: 'testing' }),
        episodeBody({ context: { domain: b }, start_time: start }),
        episodeBody({ context: { domain: b }, start_time: '1999-07-01T00:00:00Z' }),
      ],
    });
    const res = await get(
      '/v1/spatiotemporal/domains?from=1999-05-01T00:00:00Z&to=1999-06-02T00:00:00Z&limit=1000',
    );
    expect(res.status).toBe(200);
    const mine = res.body.items.filter((i: { domain: string }) => i.domain === a || i.domain === b);
    expect(mine).toEqual([
      { domain: a, task_type: 'debugging', episodes: 2, completed: 1, successes: 1 },
      ...[
        { domain: a, task_type: 'testing', episodes: 1, completed: 0, successes: 0 },
        { domain: b, task_type: 'debugging', episodes: 1, completed: 0, successes: 0 },
      ].sort((x, y) => (x.domain < y.domain ? -1 : 1)),
    ]);
  });

  it('oracle: random episodes, steps, archives, rewards, kind changes and deletes - every bucket as a brute force counts it, in whole-hour and half-hour zones, filtered or not', async () => {
    // A tenant of its own: the timeline without filters counts every episode of the tenant.
    const ids = await buildIdentityApp(env);
    const headers = ids.headers('a', 'admin');
    const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
      send(ids.app, method, url, body, headers);
    const T0 = Date.parse('1985-03-29T00:00:00.000Z'); // Berlin's DST starts on the 31st
    const SPAN = 5 * DAY;
    const TOOLS = ['grep', 'edit', 'test', 'ls', 'cat', 'vim', 'make'];
    const episode = fc.record({
      // Often near a local midnight of the zones below (18:15, 18:30, 03:30, 22:00, 23:00 UTC), on either side.
      start: fc
        .tuple(
          fc.integer({ min: 0, max: 4 }),
          fc.oneof(
            { arbitrary: fc.constantFrom(3, 18, 22, 23), weight: 4 },
            { arbitrary: fc.integer({ min: 0, max: 23 }), weight: 1 },
          ),
          fc.constantFrom(0, 14, 15, 16, 29, 30, 31, 44, 45, 59),
        )
        .map(([day, hour, minute]) => day * DAY + hour * HOUR + minute * 60_000),
      hours: fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }),
      success: fc.boolean(),
      reward: fc.option(fc.double({ min: -5, max: 5, noNaN: true }), { nil: null }),
      domain: fc.constantFrom('web', 'data'),
      task_type: fc.constantFrom('debugging', 'testing'),
      steps: fc.array(
        fc.record({ at: fc.integer({ min: 0, max: SPAN - 1 }), tool: fc.constantFrom(...TOOLS) }),
        {
          maxLength: 4,
        },
      ),
      later: fc.constantFrom('none', 'archive', 'delete', 'domain', 'complete', 'append'),
    });
    const filter = fc.constantFrom('none', 'domain', 'task_type');
    // Whole-hour zones and zones at half and three quarters of an hour, each at every bucket size.
    const ZONES = ['UTC', 'Asia/Kolkata', 'Asia/Kathmandu', 'America/St_Johns', 'Europe/Berlin'];
    const SIZES = ['hour', 'day', 'week'] as const;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(episode, { minLength: 1, maxLength: 12 }), filter, async (drawn, kind) => {
          const agent = uniqueAgent();
          const reward = (t: number) => ({
            total: t,
            base: t,
            efficiency: 1,
            complexity_bonus: 0,
            quality_multiplier: 1,
            learning_bonus: 0,
          });
          const created = await call('POST', '/v1/episodes/batch', {
            episodes: drawn.map((d) =>
              episodeBody({
                agent_id: agent,
                task_type: d.task_type,
                context: { domain: d.domain },
                start_time: iso(T0 + d.start),
                ...(d.hours === null
                  ? {}
                  : {
                      end_time: iso(T0 + d.start + d.hours * HOUR),
                      outcome: d.success
                        ? { type: 'success', verdict: 'ok', artifacts: [] }
                        : { type: 'failure', reason: 'no' },
                    }),
                ...(d.reward === null ? {} : { reward: reward(d.reward) }),
                steps: d.steps.map((st) => ({ tool: st.tool, action: 'a', timestamp: iso(T0 + st.at) })),
              }),
            ),
          });
          expect(created.status, JSON.stringify(created.body)).toBe(201);
          // What the records are after the later writes: the model the brute force counts.
          const model = drawn.map((d, i) => ({
            ...d,
            id: created.body.ids[i] as string,
            archived: false,
            gone: false,
          }));
          try {
            for (const m of model) {
              if (m.later === 'archive') m.archived = true;
              if (m.later === 'delete') m.gone = true;
              if (m.later === 'domain') m.domain = m.domain === 'web' ? 'data' : 'web';
              const url = `/v1/episodes/${m.id}`;
              const res =
                m.later === 'archive'
                  ? await call('PATCH', url, { archived: true })
                  : m.later === 'delete'
                    ? await call('DELETE', url)
                    : m.later === 'domain'
                      ? await call('PATCH', url, { context: { domain: m.domain } })
                      : m.later === 'complete' && m.hours === null
                        ? await call('POST', `${url}/complete`, {
                            outcome: { type: 'success', verdict: 'ok', artifacts: [] },
                            end_time: iso(T0 + m.start + HOUR),
                          })
                        : m.later === 'append'
                          ? await call('POST', `${url}/steps`, {
                              tool: 'late',
                              action: 'a',
                              timestamp: iso(T0 + m.start),
                            })
                          : null;
              if (res) expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
              if (m.later === 'complete' && m.hours === null) Object.assign(m, { hours: 1, success: true });
              if (m.later === 'append') m.steps = [...m.steps, { at: m.start, tool: 'late' }];
            }
            for (const tz of ZONES) {
              for (const size of SIZES) {
                const from = T0 - DAY;
                const to = T0 + SPAN + DAY;
                const kinds =
                  kind === 'domain' ? '&domain=web' : kind === 'task_type' ? '&task_type=testing' : '';
                const res = await call(
                  'GET',
                  `/v1/spatiotemporal/timeline?bucket=${size}&tz=${tz}&from=${iso(from)}&to=${iso(to)}${kinds}`,
                );
                expect(res.status, JSON.stringify(res.body)).toBe(200);
                const bounds = bucketBoundaries(size, from, to, tz) as number[];
                const counted = model.filter(
                  (m) =>
                    !m.gone &&
                    !m.archived &&
                    (kind !== 'domain' || m.domain === 'web') &&
                    (kind !== 'task_type' || m.task_type === 'testing'),
                );
                const expected = bounds.slice(0, -1).map((start, i) => {
                  const end = bounds[i + 1] as number;
                  const inBucket = (t: number) => T0 + t >= start && T0 + t < end;
                  const mine = counted.filter((m) => inBucket(m.start));
                  const completed = mine.filter((m) => m.hours !== null);
                  const successes = completed.filter((m) => m.success).length;
                  const rewards = mine.flatMap((m) => (m.reward === null ? [] : [m.reward]));
                  const uses = new Map<string, number>();
                  for (const m of counted)
                    for (const st of m.steps)
                      if (inBucket(st.at)) uses.set(st.tool, (uses.get(st.tool) ?? 0) + 1);
                  return {
                    start: iso(start),
                    episodes: mine.length,
                    completed: completed.length,
                    successes,
                    success_rate: completed.length === 0 ? null : successes / completed.length,
                    avg_reward:
                      rewards.length === 0 ? null : rewards.reduce((a, b) => a + b, 0) / rewards.length,
                    top_tools: [...uses]
                      .sort(([ta, a], [tb, b]) => b - a || (ta < tb ? -1 : 1))
                      .slice(0, 5)
                      .map(([tool, n]) => ({ tool, uses: n })),
                  };
                });
                const got = res.body.buckets as typeof expected;
                expect(got.map((b) => ({ ...b, avg_reward: null }))).toEqual(
                  expected.map((b) => ({ ...b, avg_reward: null })),
                );
                got.forEach((b, i) => {
                  const want = expected[i]?.avg_reward ?? null;
                  if (want === null) expect(b.avg_reward, b.start).toBeNull();
                  else expect(Math.abs((b.avg_reward as number) - want), b.start).toBeLessThan(1e-9);
                });
              }
            }
          } finally {
            // The tenant's timeline holds only this run's episodes: the next run (or shrink) starts empty.
            for (const m of model) if (!m.gone) await call('DELETE', `/v1/episodes/${m.id}`);
          }
        }),
        { numRuns: 12 },
      );
    } finally {
      await ids.close();
    }
  });

  it.each([
    ['/v1/spatiotemporal/timeline?bucket=year', '/bucket'],
    ['/v1/spatiotemporal/timeline?tz=Mars/Olympus', '/tz'],
    ['/v1/spatiotemporal/timeline?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', '/from'],
    ['/v1/spatiotemporal/timeline?from=2999-01-01T00:00:00Z', '/from'],
    ['/v1/spatiotemporal/timeline?bucket=hour&from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', '/bucket'],
    ['/v1/spatiotemporal/timeline?task_type=gardening', '/task_type/0'],
    ['/v1/spatiotemporal/timeline?colour=red', '/'],
    ['/v1/spatiotemporal/domains?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', '/from'],
    ['/v1/spatiotemporal/domains?limit=0', '/limit'],
    ['/v1/spatiotemporal/domains?from=2026-01-01T00:00:00Z&to=abc', '/to'],
    ['/v1/spatiotemporal/timeline?from=2026-01-01T00:00:00Z&to=a%00b', '/to'],
  ])('%s - 400 naming %s', async (url, path) => {
    const res = await get(url);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });
});
