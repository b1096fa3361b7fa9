import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, send } from '../helpers/backends.js';
import { buildIdentityApp, type IdentityApp } from '../helpers/identities.js';

// Mined suggestions (SPEC §3.3) equal a brute-force computation over generated episodes and steps, for
// both kinds and with filters, on both backends; every suggested pattern is accepted by POST /v1/patterns
// unchanged. A tenant of its own, so the shared sqld's other rows do not count.

const TOOLS = ['bash', 'grep', 'edit', 'test'];
const DOMAINS = ['web', 'cli'];
const TASK_TYPES = ['debugging', 'testing'];

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
  start_time: string;
  end_time: string | null;
  outcome: { type: string } | null;
  steps: { step_number: number; tool: string; latency_ms: number | null; result: { type: string } | null }[];
}

interface Query {
  kind: 'tool_sequence' | 'error_recovery';
  domain?: string;
  task_type?: string;
  since?: string;
  min_support: number;
  limit: number;
}

/** The suggestions, computed episode by episode in memory. */
function bruteForce(episodes: Episode[], q: Query) {
  const groups = new Map<
    string,
    {
      domain: string;
      key: string;
      tools: string[];
      episodes: Set<string>;
      successes: number;
      occurrences: number;
      latency: number;
    }
  >();
  for (const e of episodes) {
    if (e.end_time === null) continue;
    if (q.domain !== undefined && e.context.domain !== q.domain) continue;
    if (q.task_type !== undefined && e.task_type !== q.task_type) continue;
    if (q.since !== undefined && Date.parse(e.start_time) < Date.parse(q.since)) continue;
    const steps = [...e.steps].sort((a, b) => a.step_number - b.step_number);
    const found: { key: string; tools: string[]; latency: number }[] = [];
    steps.forEach((step, i) => {
      if (q.kind === 'tool_sequence') {
        for (let n = 2; n <= 4 && i + n <= steps.length; n++) {
          const run = steps.slice(i, i + n);
          found.push({
            key: '',
            tools: run.map((s) => s.tool),
            latency: run.reduce((t, s) => t + (s.latency_ms ?? 0), 0),
          });
        }
      } else if (step.result?.type === 'error') {
        for (let m = 1; m <= 3 && i + m < steps.length; m++) {
          found.push({ key: step.tool, tools: steps.slice(i + 1, i + 1 + m).map((s) => s.tool), latency: 0 });
        }
      }
    });
    for (const f of found) {
      const id = JSON.stringify([e.context.domain, f.key, f.tools]);
      const group = groups.get(id) ?? {
        domain: e.context.domain,
        key: f.key,
        tools: f.tools,
        episodes: new Set<string>(),
        successes: 0,
        occurrences: 0,
        latency: 0,
      };
      if (!group.episodes.has(e.id)) {
        group.episodes.add(e.id);
        if (e.outcome?.type === 'success') group.successes++;
      }
      group.occurrences++;
      group.latency += f.latency;
      groups.set(id, group);
    }
  }
  const text = (s: string) => s;
  return [...groups.values()]
    .filter((g) => g.episodes.size >= q.min_support && (q.kind === 'tool_sequence' || g.successes > 0))
    .sort(
      (a, b) =>
        b.episodes.size - a.episodes.size ||
        b.successes - a.successes ||
        (text(a.domain) < text(b.domain) ? -1 : a.domain > b.domain ? 1 : 0) ||
        (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) ||
        (JSON.stringify(a.tools) < JSON.stringify(b.tools) ? -1 : 1),
    )
    .slice(0, q.limit)
    .map((g) => ({
      pattern:
        q.kind === 'tool_sequence'
          ? {
              kind: q.kind,
              tools: g.tools,
              context: { domain: g.domain },
              success_rate: g.successes / g.episodes.size,
              avg_latency_ms: g.latency / g.occurrences,
              occurrence_count: g.occurrences,
            }
          : {
              kind: q.kind,
              error_type: g.key,
              recovery_steps: g.tools,
              success_rate: g.successes / g.episodes.size,
              context: { domain: g.domain },
            },
      support: g.episodes.size,
      successes: g.successes,
      evidence_episode_ids: [...g.episodes].sort().reverse().slice(0, 20),
    }));
}

describe.each(BACKENDS)('mined suggestions on $name', ({ env }) => {
  let ids: IdentityApp;
  let episodes: Episode[];
  beforeAll(async () => {
    ids = await buildIdentityApp(env);
    const rnd = random(7);
    const bodies = Array.from({ length: 160 }, (_, i) => {
      const completed = rnd.next() < 0.8;
      return {
        task_type: rnd.pick(TASK_TYPES),
        task_description: 'mining',
        context: { domain: rnd.pick(DOMAINS) },
        start_time: new Date(Date.UTC(2026, 10, 1 + (i % 28))).toISOString(),
        ...(completed
          ? {
              end_time: new Date(Date.UTC(2026, 10, 1 + (i % 28), 12)).toISOString(),
              outcome:
                rnd.next() < 0.6
                  ? { type: 'success', verdict: 'ok', artifacts: [] }
                  : { type: 'failure', reason: 'no' },
            }
          : {}),
        steps: Array.from({ length: Math.floor(rnd.next() * 7) }, () => ({
          tool: rnd.pick(TOOLS),
          action: 'a',
          ...(rnd.next() < 0.8 ? { latency_ms: Math.floor(rnd.next() * 100) } : {}),
          result: rnd.next() < 0.25 ? { type: 'error', message: 'x' } : { type: 'success', output: 'y' },
        })),
      };
    });
    const created = await send(
      ids.app,
      'POST',
      '/v1/episodes/batch',
      { episodes: bodies },
      ids.headers('a', 'write'),
    );
    expect(created.status).toBe(201);
    episodes = [];
    let cursor: string | null = null;
    do {
      const page = await send(
        ids.app,
        'GET',
        `/v1/episodes?include=steps&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
        undefined,
        ids.headers('a', 'read'),
      );
      episodes.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(episodes).toHaveLength(160);
  });
  afterAll(() => ids.close());

  it.each<Query>([
    { kind: 'tool_sequence', min_support: 2, limit: 100 },
    { kind: 'tool_sequence', min_support: 5, limit: 7, domain: 'web' },
    {
      kind: 'tool_sequence',
      min_support: 1,
      limit: 100,
      task_type: 'testing',
      since: '2026-11-15T00:00:00.000Z',
    },
    { kind: 'error_recovery', min_support: 2, limit: 100 },
    { kind: 'error_recovery', min_support: 1, limit: 10, domain: 'cli', task_type: 'debugging' },
  ])('equal a brute-force computation: %o', async (q) => {
    const params = new URLSearchParams(Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)])));
    const res = await send(
      ids.app,
      'GET',
      `/v1/patterns/suggestions?${params}`,
      undefined,
      ids.headers('a', 'read'),
    );
    expect(res.status).toBe(200);
    const expected = bruteForce(episodes, q);
    expect(expected.length).toBeGreaterThan(0);
    const withoutLatency = (items: { pattern: Record<string, unknown> }[]) =>
      items.map((s) => ({ ...s, pattern: { ...s.pattern, avg_latency_ms: undefined } }));
    expect(withoutLatency(res.body.items)).toEqual(withoutLatency(expected));
    res.body.items.forEach((s: { pattern: { avg_latency_ms?: number } }, i: number) => {
      if (q.kind === 'tool_sequence') {
        expect(s.pattern.avg_latency_ms).toBeCloseTo(expected[i]?.pattern.avg_latency_ms as number, 9);
      }
    });
  });

  it('every suggestion can be POSTed back to /v1/patterns unchanged, and reads back as suggested', async () => {
    for (const kind of ['tool_sequence', 'error_recovery']) {
      const res = await send(
        ids.app,
        'GET',
        `/v1/patterns/suggestions?kind=${kind}&limit=5`,
        undefined,
        ids.headers('a', 'read'),
      );
      expect(res.body.items.length).toBeGreaterThan(0);
      for (const { pattern } of res.body.items) {
        const created = await send(ids.app, 'POST', '/v1/patterns', pattern, ids.headers('a', 'write'));
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        expect(created.body).toMatchObject(pattern);
      }
    }
  });

  it('another tenant mines nothing from these steps; a bad kind or min_support is a 400 naming it', async () => {
    const other = await send(
      ids.app,
      'GET',
      '/v1/patterns/suggestions?kind=tool_sequence&min_support=1',
      undefined,
      ids.headers('b', 'read'),
    );
    expect(other.body.items).toEqual([]);
    for (const [query, path] of [
      ['kind=context_pattern', '/kind'],
      ['kind=tool_sequence&min_support=0', '/min_support'],
    ]) {
      const res = await send(
        ids.app,
        'GET',
        `/v1/patterns/suggestions?${query}`,
        undefined,
        ids.headers('a', 'read'),
      );
      expect(res.status).toBe(400);
      expect(res.body.errors[0].path).toBe(path);
    }
  });
});
