import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Statement } from '../../src/db/types.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';

// Every main list filter is served by an index range in sort order: no full scan, no sort of the filtered
// rows. (A page's own rows — at most limit + 1 — are sorted again for its size budget; that is not the
// filtered set.)

const ALIASES = { episodes: 'e', steps: 's', patterns: 'p', heuristics: 'h' } as const;

describe('list query plans', () => {
  let app: TestApp;
  let captured: Statement[] = [];
  beforeAll(async () => {
    app = await buildTestApp({}, { faults: true });
    await send(app, 'POST', '/v1/episodes/batch', {
      episodes: Array.from({ length: 50 }, (_, i) =>
        episodeBody({
          agent_id: `a${i % 3}`,
          context: { domain: `d${i % 5}`, language: 'ts' },
          tags: ['t1'],
        }),
      ),
    });
    for (let i = 0; i < 30; i++) {
      await send(app, 'POST', '/v1/patterns', {
        kind: i % 2 ? 'tool_sequence' : 'error_recovery',
        ...(i % 2
          ? { tools: ['a', 'b'], avg_latency_ms: 1, occurrence_count: 1 }
          : { error_type: 'E', recovery_steps: ['retry'] }),
        context: { domain: `d${i % 5}`, ...(i % 3 ? { language: 'ts' } : {}) },
        success_rate: (i % 10) / 10,
        tags: [`t${i % 4}`],
      });
      await send(app, 'POST', '/v1/heuristics', {
        condition: 'c',
        action: 'a',
        confidence: (i % 10) / 10,
        evidence: { episode_ids: [], success_rate: 0.5, sample_size: 1 },
      });
    }
    await app.engram.db.write([{ sql: 'ANALYZE', args: [] }]);
    app.faults.fault = (call) => {
      if (call.op === 'query' || call.op === 'scan') captured.push(...call.stmts);
      return undefined;
    };
  });
  afterAll(async () => {
    await app.close();
  });

  /** The plan of the list's query: the line that reads `table`, and the lines of the same (sub)query. */
  async function planOf(url: string, table: keyof typeof ALIASES = 'episodes') {
    captured = [];
    expect((await send(app, 'GET', url)).status).toBe(200);
    const stmt = captured.find((s) => s.sql.includes(`FROM ${table}`));
    if (!stmt) throw new Error(`no ${table} query captured for ${url}`);
    const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
    const alias = ALIASES[table];
    const read = rows.find((r) => new RegExp(`^(SEARCH|SCAN) ${alias}\\b`).test(String(r.detail)));
    const all = rows.map((r) => String(r.detail));
    if (!read) throw new Error(`no read of ${table} in the plan:\n${all.join('\n')}`);
    const sameQuery = rows.filter((r) => r.parent === read.parent).map((r) => String(r.detail));
    return { all, read: String(read.detail), sameQuery };
  }

  it.each([
    ['/v1/episodes', 'episodes_by_start'],
    ['/v1/episodes?domain=d1', 'episodes_by_domain'],
    ['/v1/episodes?domain=d1&status=completed', 'episodes_by_domain'],
    ['/v1/episodes?task_type=debugging', 'episodes_by_task_type'],
    ['/v1/episodes?agent_id=a1', 'episodes_by_agent'],
    ['/v1/episodes?session_id=s', 'episodes_by_session'],
    ['/v1/episodes?language=ts', 'episodes_by_language'],
    ['/v1/episodes?outcome=success', 'episodes_by_outcome'],
    ['/v1/episodes?sort=start_time_asc', 'episodes_by_start'],
  ])('plan: %s uses %s without a full scan or a sort', async (url, index) => {
    const plan = await planOf(url);
    expect(plan.read, plan.all.join('\n')).toContain(`USING INDEX ${index}`);
    expect(plan.all.join('\n')).not.toMatch(/SCAN e\b/);
    expect(plan.sameQuery.join('\n'), plan.all.join('\n')).not.toMatch(/TEMP B-TREE/);
  });

  it('plan: tag and full-text filters probe their indexes', async () => {
    expect((await planOf('/v1/episodes?tag=t1')).all.join('\n')).toMatch(/SEARCH t USING PRIMARY KEY/);
    expect((await planOf('/v1/episodes?q=flaky')).all.join('\n')).toMatch(/VIRTUAL TABLE INDEX/);
  });

  it.each([
    ['/v1/steps', 'steps_by_time'],
    ['/v1/steps?tool=bash', 'steps_by_tool'],
    ['/v1/steps?agent_id=a1', 'steps_by_agent'],
  ])('plan: %s uses %s', async (url, index) => {
    const plan = await planOf(url, 'steps');
    expect(plan.read, plan.all.join('\n')).toContain(index);
    expect(plan.sameQuery.join('\n'), plan.all.join('\n')).not.toMatch(/TEMP B-TREE/);
  });

  it.each([
    ['/v1/patterns', 'patterns_by_success'],
    ['/v1/patterns?min_success_rate=0.5', 'patterns_by_success'],
    ['/v1/patterns?kind=tool_sequence', 'patterns_by_kind'],
    ['/v1/patterns?kind=tool_sequence&min_success_rate=0.5', 'patterns_by_kind'],
    ['/v1/patterns?domain=d1', 'patterns_by_domain'],
    ['/v1/patterns?language=ts', 'patterns_by_language'],
    ['/v1/patterns?sort=effectiveness_desc', 'patterns_by_effectiveness'],
    ['/v1/patterns?sort=created_desc', 'patterns_by_recency'],
    ['/v1/heuristics', 'heuristics_by_confidence'],
    ['/v1/heuristics?min_confidence=0.5', 'heuristics_by_confidence'],
  ])('plan: %s uses %s without a full scan or a sort', async (url, index) => {
    const table = url.startsWith('/v1/patterns') ? 'patterns' : 'heuristics';
    const plan = await planOf(url, table);
    expect(plan.read, plan.all.join('\n')).toContain(`USING INDEX ${index}`);
    expect(plan.sameQuery.join('\n'), plan.all.join('\n')).not.toMatch(/TEMP B-TREE/);
  });

  it('plan: the pattern tag filter probes its index', async () => {
    expect((await planOf('/v1/patterns?tag=t1', 'patterns')).all.join('\n')).toMatch(
      /SEARCH t USING (PRIMARY KEY|INDEX pattern_tags_by_tag)/,
    );
  });
});
