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
          location: { lat: i - 25, lon: 2 * i },
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

  it('plan: episodes with their steps - the page’s ids drive, each episode’s steps a primary-key range', async () => {
    captured = [];
    expect((await send(app, 'GET', '/v1/episodes?include=steps&limit=5')).status).toBe(200);
    const stmt = captured.find((s) => s.sql.includes('json_each(?) ids, steps s'));
    if (!stmt) throw new Error('no embedded-steps query captured');
    const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
    const plan = rows.map((r) => String(r.detail)).join('\n');
    expect(plan).toMatch(
      /SCAN ids VIRTUAL TABLE INDEX \d+:\nSEARCH s USING PRIMARY KEY \(tenant=\? AND episode_id=\?\)/,
    );
    expect(plan).not.toMatch(/SCAN s\b/);
  });

  /** The plan of the spatiotemporal search's query for `body`. */
  async function searchPlan(body: Record<string, unknown>) {
    captured = [];
    expect((await send(app, 'POST', '/v1/spatiotemporal/search', body)).status).toBe(200);
    const stmt = captured.find((s) => s.sql.includes('candidates'));
    if (!stmt) throw new Error('no search query captured');
    const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
    return rows.map((r) => String(r.detail)).join('\n');
  }

  it.each([
    ['near', { near: { lat: 0, lon: 50, radius_m: 100_000 }, time: { from: '2020-01-01T00:00:00Z' } }],
    ['within', { within: { bbox: [0, -10, 10, 10] }, order: 'time_asc' }],
    ['within across the antimeridian', { within: { bbox: [170, -10, -170, 10] } }],
    ['near, steps', { near: { lat: 0, lon: 50, radius_m: 100_000 }, item_type: 'step' }],
    ['within, filtered by domain', { within: { bbox: [0, -10, 10, 10] }, filter: { domain: 'd1' } }],
  ])(
    'plan: search %s - driven by the R*Tree, entries and episodes by key, no full scan',
    async (_name, body) => {
      const plan = await searchPlan(body);
      expect(plan).toMatch(/SCAN spatiotemporal_index VIRTUAL TABLE INDEX \d+:[A-F]/);
      expect(plan).toMatch(/SEARCH x USING INTEGER PRIMARY KEY/);
      expect(plan).toMatch(/SEARCH e USING INDEX sqlite_autoindex_episodes_1|SEARCH e USING PRIMARY KEY/);
      expect(plan).not.toMatch(/SCAN (x|e|s)\b/);
    },
  );

  it.each([
    ['within', { within: { bbox: [0, -10, 10, 10] }, time: { from: '2020-01-01T00:00:00Z' } }],
    ['near', { near: { lat: 0, lon: 50, radius_m: 100_000 }, filter: { archived: 'any' } }],
  ])(
    'plan: search %s without other filters - the page chosen from the R*Tree and the entries alone, then its episodes read',
    async (_name, body) => {
      const plan = await searchPlan(body);
      // The chosen candidates (limit + 1) read no episode; only they are joined to theirs, to be weighed.
      expect(plan).toMatch(
        /CO-ROUTINE chosen\n(?:CO-ROUTINE c\nSCAN CONSTANT ROW\nSCAN c\n)?SCAN spatiotemporal_index VIRTUAL TABLE INDEX \d+:[A-F][^\n]*\nSEARCH x USING INTEGER PRIMARY KEY[^\n]*\nUSE TEMP B-TREE FOR ORDER BY\nSCAN chosen\nSEARCH e USING INDEX sqlite_autoindex_episodes_1/,
      );
      // The page's episodes are read by the rowid found when they were weighed: the key is looked up once.
      expect(plan.match(/sqlite_autoindex_episodes_1/g)).toHaveLength(1);
      expect(plan).toMatch(/SCAN page\nSEARCH e USING INTEGER PRIMARY KEY \(rowid=\?\)/);
      expect(plan).not.toMatch(/SCAN (x|e|s)\b/);
    },
  );

  it('plan: search by time alone - an index range of episodes_by_start in time order', async () => {
    const plan = await searchPlan({ time: { from: '2020-01-01T00:00:00Z', to: '2030-01-01T00:00:00Z' } });
    expect(plan).toMatch(/SEARCH e USING INDEX episodes_by_start/);
    expect(plan).not.toMatch(/SCAN e\b/);
  });

  it('plan: timeline - whole days and hours an index range of a rollup, the rest of each bucket of the records', async () => {
    captured = [];
    // Kolkata is UTC+5:30: each day holds whole UTC hours and a half hour at either end.
    const url =
      '/v1/spatiotemporal/timeline?bucket=day&tz=Asia/Kolkata&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z';
    expect((await send(app, 'GET', url)).status).toBe(200);
    const plans = [];
    for (const table of ['episode_hours h', 'tool_hours h']) {
      const stmt = captured.find((c) => c.sql.includes(`CROSS JOIN ${table}`));
      if (!stmt) throw new Error(`no timeline query of ${table} captured`);
      const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
      plans.push(rows.map((r) => String(r.detail)).join('\n'));
    }
    for (const plan of plans) {
      expect(plan).toMatch(/SEARCH h USING PRIMARY KEY \(tenant=\? AND day>\? AND day<\?\)/);
      expect(plan).toMatch(/SEARCH h USING PRIMARY KEY \(tenant=\? AND hour>\? AND hour<\?\)/);
    }
    expect(plans[0]).toMatch(
      /SEARCH e USING INDEX episodes_by_start \(tenant=\? AND archived=\? AND start_time>\? AND start_time<\?\)/,
    );
    expect(plans[1]).toMatch(
      /SEARCH s USING INDEX steps_by_time \(tenant=\? AND timestamp>\? AND timestamp<\?\)/,
    );
    for (const plan of plans) expect(plan).not.toMatch(/SCAN (h|e|s)\b/);
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

  // The mined suggestions read migration 6's tables by index ranges: the totals of a (tenant, kind[, domain])
  // range, grouped in key order; with `since`, the completed episodes' start-time range and each one's
  // candidates; the evidence of each candidate, newest first, from its primary-key range. Only the grouped
  // candidates are sorted (by support), never the rows read.
  async function suggestionPlan(url: string) {
    captured = [];
    expect((await send(app, 'GET', url)).status).toBe(200);
    const stmt = captured.find((s) => s.sql.includes('suggestion_grams'));
    if (!stmt) throw new Error(`no suggestions query captured for ${url}`);
    const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
    return rows.map((r) => String(r.detail)).join('\n');
  }

  it.each([
    ['/v1/patterns/suggestions?kind=tool_sequence', /SEARCH t USING PRIMARY KEY \(tenant=\? AND kind=\?\)/],
    [
      '/v1/patterns/suggestions?kind=error_recovery&domain=d1&task_type=debugging',
      /SEARCH t USING PRIMARY KEY \(tenant=\? AND kind=\? AND domain=\?\)/,
    ],
    [
      '/v1/patterns/suggestions?kind=tool_sequence&since=2026-01-01T00:00:00Z',
      /SEARCH e USING INDEX episodes_completed_by_start \(tenant=\? AND start_time>\?\)[\s\S]*SEARCH g USING (COVERING )?INDEX suggestion_grams_by_episode \(tenant=\? AND episode_id=\? AND kind=\?\)/,
    ],
  ])('plan: %s reads index ranges and sorts only the grouped candidates', async (url, read) => {
    const plan = await suggestionPlan(url);
    expect(plan).toMatch(read);
    expect(plan).toMatch(
      /SEARCH g USING PRIMARY KEY \(tenant=\? AND kind=\? AND domain=\? AND key=\? AND tools=\?\)/,
    );
    expect(plan).not.toMatch(/\bSCAN (t|g|e)\b/);
    // Sorts: the grouped candidates by support (to cut them at limit), then those few again for the answer;
    // with `since`, the window's rows are grouped too (the totals are grouped in key order).
    const since = url.includes('since=');
    expect(plan.includes('TEMP B-TREE FOR GROUP BY')).toBe(since);
    expect(plan.match(/TEMP B-TREE/g) ?? []).toHaveLength(since ? 3 : 2);
  });
});

// A similarity search reads only what it answers from: the index's candidates drive their vectors, the
// vectors the indexer has not reached come from their partial index, and with a filter the filtered
// episodes drive their vectors. Without statistics (no ANALYZE: as a server runs) the planner once read every
// vector of the model per search instead.
describe('similarity search query plans', () => {
  let app: TestApp;
  let captured: Statement[] = [];
  const model = 'plans';
  beforeAll(async () => {
    app = await buildTestApp({ EMBEDDING_EXACT_SCAN_MAX: 5 }, { faults: true });
    // (The plans do not depend on which vectors are indexed: the search always reads both branches.)
    const res = await send(app, 'POST', '/v1/episodes/batch', {
      episodes: Array.from({ length: 40 }, (_, i) =>
        episodeBody({
          agent_id: `a${i % 10}`,
          context: { domain: `d${i % 2}` },
          embedding: { model, vector: [1 + (i % 7), 2 - (i % 3), 3, (i % 5) - 2] },
        }),
      ),
    });
    expect(res.status).toBe(201);
    for (const deadline = Date.now() + 30_000; ; ) {
      const models = await send(app, 'GET', '/v1/embedding-models');
      if (models.body.items.find((m: { name: string }) => m.name === model)?.unindexed === 0) break;
      if (Date.now() > deadline) throw new Error('the indexer did not catch up within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    app.faults.fault = (call) => {
      if (call.op === 'query' || call.op === 'scan') captured.push(...call.stmts);
      return undefined;
    };
  });
  afterAll(async () => {
    await app.close();
  });

  /** The plans of the search's reads of `embeddings`. */
  async function plansOf(body: object): Promise<string[]> {
    captured = [];
    const res = await send(app, 'POST', '/v1/search/similar', { model, k: 3, ...body });
    expect(res.status).toBe(200);
    expect(res.body.strategy).toBe('index');
    const plans: string[] = [];
    for (const stmt of captured.filter((s) =>
      /FROM (embeddings|episodes e CROSS JOIN embeddings|vector_top_k)|FROM json_each\(\?\) i/.test(s.sql),
    )) {
      const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
      plans.push(rows.map((r) => String(r.detail)).join('\n'));
    }
    return plans;
  }

  it('plan: without a filter, the candidates drive and the unindexed vectors come from their index', async () => {
    const plans = (await plansOf({ vector: [1, 2, 3, 4] })).join('\n---\n');
    expect(plans).not.toMatch(/SCAN v\b/);
    expect(plans).toMatch(/SCAN top VIRTUAL TABLE[\s\S]*SEARCH v USING INTEGER PRIMARY KEY/);
    expect(plans).toMatch(/SEARCH v USING INDEX embeddings_unindexed/);
  });

  it('plan: the records of the k items found are read by their ids, not by a scan of the tenant', async () => {
    const plans = (await plansOf({ vector: [1, 2, 3, 4] })).join('\n---\n');
    expect(plans).toMatch(
      /SCAN i VIRTUAL TABLE[\s\S]*SEARCH e USING INDEX sqlite_autoindex_episodes_1 \(tenant=\? AND id=\?\)/,
    );
    expect(plans).not.toMatch(/SEARCH e USING (COVERING )?INDEX \w+ \(tenant=\?\)/);
  });

  // Measured at 100k × 384-d: a condition on the distance of a flattened subquery computed it twice per vector
  // (a third of the filtered exact scan's CPU).
  it('each distance a search statement names is computed once per vector it reads', async () => {
    const strategies = new Set<string>();
    const bodies = [
      {}, // the index
      { filter: { domain: 'd1' } }, // the index, filtered
      { min_similarity: 0.999999 }, // the index's page falls short: scanned exactly after it
    ];
    for (const body of bodies) {
      captured = [];
      const res = await send(app, 'POST', '/v1/search/similar', {
        model,
        k: 3,
        vector: [1, 2, 3, 4],
        ...body,
      });
      expect(res.status).toBe(200);
      strategies.add(res.body.strategy);
      const ranking = captured.filter((s) => s.sql.includes('vector_distance_cos('));
      expect(ranking.length).toBeGreaterThan(0);
      for (const stmt of ranking) {
        const program = await app.engram.db.read(`EXPLAIN ${stmt.sql}`, stmt.args);
        const computed = program.filter(
          (op) => /Func/.test(String(op.opcode)) && String(op.p4).startsWith('vector_distance_cos'),
        ).length;
        expect({ sql: stmt.sql, computed }).toEqual({
          sql: stmt.sql,
          computed: stmt.sql.split('vector_distance_cos(').length - 1,
        });
      }
    }
    expect([...strategies].sort()).toEqual(['exact', 'index']);
  });

  it('a few matching vectors are scored in memory: no vector row is read twice, no distance in SQL', async () => {
    captured = [];
    const res = await send(app, 'POST', '/v1/search/similar', {
      model,
      k: 3,
      vector: [1, 2, 3, 4],
      filter: { agent_id: 'a1' }, // 4 matches
    });
    expect(res.status).toBe(200);
    expect(res.body.strategy).toBe('exact');
    expect(res.body.items).toHaveLength(3);
    expect(captured.filter((s) => s.sql.includes('vector_distance_cos('))).toEqual([]);
  });

  it('plan: with a filter, the filtered episodes drive their vectors', async () => {
    const plans = (await plansOf({ vector: [1, 2, 3, 4], filter: { domain: 'd1' } })).join('\n---\n');
    expect(plans).not.toMatch(/SCAN [ve]\b/);
    expect(plans).toMatch(
      /SEARCH e USING (COVERING )?INDEX episodes_by_domain[\s\S]*SEARCH v USING COVERING INDEX embeddings_by_episode/,
    ); // the matching vectors are listed without reading their rows (migration 10)
    expect(plans).toMatch(/SCAN top VIRTUAL TABLE[\s\S]*SEARCH v USING INTEGER PRIMARY KEY[\s\S]*SEARCH e/);
    expect(plans).toMatch(/SEARCH v USING INDEX embeddings_unindexed/);
  });
});
