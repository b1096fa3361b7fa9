import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, send } from '../helpers/backends.js';
import { buildIdentityApp, type IdentityApp } from '../helpers/identities.js';

// GET /v1/stats (SPEC §3.6) equals a brute-force computation over the tenant's records as the API returns
// them, after creates, steps, patches, completions and deletes (each moves the running totals), on both
// backends. A tenant of its own, so the shared sqld's other rows do not count.

const TASK_TYPES = ['debugging', 'testing', 'analysis', 'refactoring'];
const DOMAINS = ['web', 'cli', 'data', 'infra', 'ml'];
const TOOLS = ['bash', 'grep', 'edit', 'pytest', 'git', 'curl'];
const RESULTS = [
  null,
  { type: 'success', output: 'ok' },
  { type: 'error', message: 'boom' },
  { type: 'timeout' },
];
const OUTCOMES = [
  undefined,
  { type: 'success', verdict: 'done', artifacts: [] },
  { type: 'failure', reason: 'no' },
  { type: 'partial_success', verdict: 'half', completed: [], failed: [] },
];

/** A small deterministic generator, so a failure replays. */
function random(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return { next, pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T };
}

interface Episode {
  id: string;
  task_type: string;
  context: { domain: string };
  end_time: string | null;
  outcome: { type: string } | null;
  reward: { total: number } | null;
  steps: { tool: string; result: { type: string } | null }[];
}

/** What the stats must say, computed from the records one by one. */
function bruteForce(episodes: Episode[], top: number) {
  const totals = (key: (e: Episode) => string) => {
    const groups = new Map<string, Episode[]>();
    for (const e of episodes) groups.set(key(e), [...(groups.get(key(e)) ?? []), e]);
    return [...groups].map(([value, group]) => {
      const completed = group.filter((e) => e.end_time !== null).length;
      const successes = group.filter((e) => e.outcome?.type === 'success').length;
      const rewards = group.flatMap((e) => (e.reward ? [e.reward.total] : []));
      return {
        value,
        episodes: group.length,
        completed,
        successes,
        success_rate: completed === 0 ? null : successes / completed,
        avg_reward: rewards.length === 0 ? null : rewards.reduce((a, b) => a + b, 0) / rewards.length,
      };
    });
  };
  const byName = (a: { value: string }, b: { value: string }) => (a.value < b.value ? -1 : 1);
  const tools = new Map<string, { uses: number; errors: number }>();
  for (const step of episodes.flatMap((e) => e.steps)) {
    const t = tools.get(step.tool) ?? { uses: 0, errors: 0 };
    tools.set(step.tool, { uses: t.uses + 1, errors: t.errors + (step.result?.type === 'error' ? 1 : 0) });
  }
  return {
    episodes: episodes.length,
    steps: episodes.reduce((n, e) => n + e.steps.length, 0),
    by_task_type: totals((e) => e.task_type)
      .sort(byName)
      .map(({ value, ...rest }) => ({ task_type: value, ...rest })),
    by_domain: totals((e) => e.context.domain)
      .sort((a, b) => b.episodes - a.episodes || byName(a, b))
      .slice(0, top)
      .map(({ value, ...rest }) => ({ domain: value, ...rest })),
    top_tools: [...tools]
      .sort(([a, x], [b, y]) => y.uses - x.uses || (a < b ? -1 : 1))
      .slice(0, top)
      .map(([tool, t]) => ({ tool, ...t, error_rate: t.errors / t.uses })),
  };
}

describe.each(BACKENDS)('stats on $name', ({ env }) => {
  let ids: IdentityApp;
  beforeAll(async () => {
    ids = await buildIdentityApp(env);
  });
  afterAll(() => ids.close());

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
    send(ids.app, method, url, body, ids.headers('a', 'write'));

  async function allEpisodes(): Promise<Episode[]> {
    const all: Episode[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        'GET',
        `/v1/episodes?archived=any&include=steps&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      all.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor);
    return all;
  }

  it('equals a brute-force computation over generated data, after creates, appends, patches, completions and deletes', async () => {
    const rnd = random(20261130);
    const episodes = Array.from({ length: 120 }, () => {
      const outcome = rnd.pick(OUTCOMES);
      return {
        task_type: rnd.pick(TASK_TYPES),
        task_description: 'stats',
        context: { domain: rnd.pick(DOMAINS) },
        ...(outcome
          ? { outcome, end_time: '2026-11-30T12:00:00.000Z', start_time: '2026-11-30T11:00:00.000Z' }
          : {}),
        ...(rnd.next() < 0.7
          ? {
              reward: {
                total: Math.round(rnd.next() * 1000) / 100 - 3,
                base: 1,
                efficiency: 1,
                complexity_bonus: 0,
                quality_multiplier: 1,
                learning_bonus: 0,
              },
            }
          : {}),
        archived: rnd.next() < 0.1,
        steps: Array.from({ length: Math.floor(rnd.next() * 6) }, () => ({
          tool: rnd.pick(TOOLS),
          action: 'a',
          result: rnd.pick(RESULTS),
        })),
      };
    });
    const created = await call('POST', '/v1/episodes/batch', { episodes });
    expect(created.status).toBe(201);
    const created_ids: string[] = created.body.ids;
    // Moves of every kind: appended steps, patched domain and reward, completions, deletes.
    for (const [i, id] of created_ids.entries()) {
      if (i % 7 === 0)
        await call('POST', `/v1/episodes/${id}/steps`, {
          tool: rnd.pick(TOOLS),
          action: 'late',
          result: RESULTS[2],
        });
      if (i % 9 === 0)
        await call('PATCH', `/v1/episodes/${id}`, { context: { domain: rnd.pick(DOMAINS) }, reward: null });
      if (i % 11 === 0) await call('POST', `/v1/episodes/${id}/complete`, { outcome: OUTCOMES[1] });
      if (i % 13 === 0) expect((await call('DELETE', `/v1/episodes/${id}`)).status).toBe(204);
    }
    await call('POST', '/v1/patterns', {
      kind: 'tool_sequence',
      tools: ['a'],
      context: { domain: 'web' },
      success_rate: 1,
      avg_latency_ms: 1,
      occurrence_count: 1,
    });
    await call('POST', '/v1/heuristics', {
      condition: 'c',
      action: 'a',
      confidence: 1,
      evidence: { episode_ids: [], success_rate: 1, sample_size: 1 },
    });

    const expected = bruteForce(await allEpisodes(), 3);
    const stats = await call('GET', '/v1/stats?top=3');
    expect(stats.status).toBe(200);
    expect(stats.body.counts).toEqual({
      episodes: expected.episodes,
      steps: expected.steps,
      patterns: 1,
      heuristics: 1,
    });
    expect(stats.body.patterns_by_kind).toEqual({
      tool_sequence: 1,
      decision_point: 0,
      error_recovery: 0,
      context_pattern: 0,
    });
    expect(stats.body.top_tools).toEqual(expected.top_tools);
    for (const [got, want] of [
      [stats.body.by_task_type, expected.by_task_type],
      [stats.body.by_domain, expected.by_domain],
    ] as const) {
      // Rewards are summed in floating point in another order: equal to within rounding.
      expect(got.map((g: { avg_reward: unknown }) => ({ ...g, avg_reward: null }))).toEqual(
        want.map((w) => ({ ...w, avg_reward: null })),
      );
      got.forEach((g: { avg_reward: number | null }, i: number) => {
        const w = want[i]?.avg_reward ?? null;
        if (w === null) expect(g.avg_reward).toBeNull();
        else expect(g.avg_reward).toBeCloseTo(w, 9);
      });
    }
    // Another tenant sees none of it.
    const other = await send(ids.app, 'GET', '/v1/stats', undefined, ids.headers('b', 'read'));
    expect(other.body.counts).toEqual({ episodes: 0, steps: 0, patterns: 0, heuristics: 0 });
    expect(other.body.by_domain).toEqual([]);
  });

  it('top must be 1..100', async () => {
    const res = await call('GET', '/v1/stats?top=0');
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('/top');
  });
});
