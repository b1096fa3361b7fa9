import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// Any finite reward is accepted, so the running sums of rewards (the timeline's rollups, the stats' totals)
// can overflow to Infinity. Over Hrana's JSON a non-finite float arrives as null and @libsql/client fails the
// whole read, which was answered 503 (fuzz seed 1558426136 on sqld); on the embedded file the mean came out
// 0. Every read of such a sum answers a null mean instead. The same for step latencies and the mined
// suggestions' sums (fuzz seed 1662421356: avg_latency_ms came out null on the embedded file), whose mean is
// the largest finite number, as a pattern body must carry a number. A database of its own on each backend:
// the Infinity stays in the sums, and other tests read the shared sqld's rollups whole.

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** Two of these sum to Infinity. */
const HUGE_REWARD = {
  total: 1.5e308,
  base: 0,
  efficiency: 1,
  complexity_bonus: 0,
  quality_multiplier: 1,
  learning_bonus: 0,
};

describe.each(['embedded file', 'sqld'] as const)(
  'rewards whose sum overflows, on a database of its own ($0)',
  (backend) => {
    let app: TestApp;
    let sqld: SqldHandle | undefined;
    const day = Date.parse('1977-04-11T00:00:00.000Z');
    beforeAll(async () => {
      if (backend === 'sqld') sqld = await startSqld({ kind: 'binary', quiet: true });
      app = await buildTestApp({ DB_TIMEOUT_MS: 30_000, ...(sqld ? { LIBSQL_URL: sqld.url } : {}) });
      const res = await send(app, 'POST', '/v1/episodes/batch', {
        episodes: [1, 2].map((hour) =>
          episodeBody({
            task_type: 'analysis',
            context: { domain: 'overflow', complexity: 'simple', tags: [] },
            start_time: iso(day + hour * 3_600_000),
            end_time: iso(day + hour * 3_600_000 + 1000),
            outcome: { type: 'success', verdict: 'ok', artifacts: [] },
            reward: HUGE_REWARD,
            steps: ['read', 'write'].map((tool) => ({
              tool,
              action: 'a',
              latency_ms: 1.5e308, // two of them sum to Infinity
              result: { type: 'success', output: 'y' },
            })),
          }),
        ),
      });
      expect(res.status).toBe(201);
    });
    afterAll(async () => {
      await app?.close();
      await sqld?.stop();
    });

    it('timeline: the bucket answers, its mean reward null', async () => {
      for (const filter of ['&domain=overflow', '']) {
        const timeline = await send(
          app,
          'GET',
          `/v1/spatiotemporal/timeline?bucket=day&from=${iso(day)}&to=${iso(day + DAY_MS)}${filter}`,
        );
        expect(timeline.status, JSON.stringify(timeline.body)).toBe(200);
        expect(timeline.body.buckets).toHaveLength(1);
        expect(timeline.body.buckets[0].completed).toBe(2);
        expect(timeline.body.buckets[0].avg_reward).toBeNull();
      }
    });

    it('suggestions: the sequence answers with the largest finite mean latency, a pattern body POST accepts', async () => {
      for (const since of ['', `&since=${iso(day - DAY_MS)}`]) {
        const mined = await send(
          app,
          'GET',
          `/v1/patterns/suggestions?kind=tool_sequence&min_support=1${since}`,
        );
        expect(mined.status, JSON.stringify(mined.body)).toBe(200);
        const [suggestion] = mined.body.items;
        expect(suggestion).toMatchObject({
          support: 2,
          pattern: { tools: ['read', 'write'], avg_latency_ms: Number.MAX_VALUE, occurrence_count: 2 },
        });
        expect((await send(app, 'POST', '/v1/patterns', suggestion.pattern)).status).toBe(201);
      }
    });

    it('stats: the task type and the domain answer, their mean reward null', async () => {
      const stats = await send(app, 'GET', '/v1/stats');
      expect(stats.status, JSON.stringify(stats.body)).toBe(200);
      expect(stats.body.by_task_type).toEqual([
        { task_type: 'analysis', episodes: 2, completed: 2, successes: 2, success_rate: 1, avg_reward: null },
      ]);
      expect(stats.body.by_domain).toEqual([
        { domain: 'overflow', episodes: 2, completed: 2, successes: 2, success_rate: 1, avg_reward: null },
      ]);
    });
    it('deleting an episode whose candidate latency overflowed: 204, and the sequence still answers', async () => {
      const [first] = (await send(app, 'GET', '/v1/episodes?limit=1')).body.items;
      const removed = await send(app, 'DELETE', `/v1/episodes/${first.id}`);
      expect(removed.status, JSON.stringify(removed.body)).toBe(204); // was a 500: Infinity − Infinity
      const mined = await send(app, 'GET', '/v1/patterns/suggestions?kind=tool_sequence&min_support=1');
      expect(mined.status, JSON.stringify(mined.body)).toBe(200);
      expect(mined.body.items).toEqual([
        expect.objectContaining({
          support: 1,
          pattern: expect.objectContaining({ tools: ['read', 'write'], avg_latency_ms: Number.MAX_VALUE }),
        }),
      ]);
    });
  },
);
