import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Statement } from '../../src/db/types.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';

// Every main list filter is served by an index range in sort order: no full scan, no sort of the result.

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
    await app.engram.db.write([{ sql: 'ANALYZE', args: [] }]);
    app.faults.fault = (call) => {
      if (call.op === 'query') captured.push(...call.stmts);
      return undefined;
    };
  });
  afterAll(async () => {
    await app.close();
  });

  async function planOf(url: string, table: 'episodes' | 'steps' = 'episodes'): Promise<string[]> {
    captured = [];
    expect((await send(app, 'GET', url)).status).toBe(200);
    const stmt = captured.find((s) => s.sql.includes(`FROM ${table}`));
    if (!stmt) throw new Error(`no ${table} query captured for ${url}`);
    const rows = await app.engram.db.read(`EXPLAIN QUERY PLAN ${stmt.sql}`, stmt.args);
    return rows.map((r) => String(r.detail));
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
    const main = plan.find((d) => / e\b/.test(d)) ?? '';
    expect(main, plan.join('\n')).toContain(`USING INDEX ${index}`);
    expect(plan.join('\n')).not.toMatch(/SCAN e\b/);
    expect(plan.join('\n')).not.toMatch(/TEMP B-TREE/);
  });

  it('plan: tag and full-text filters probe their indexes', async () => {
    expect((await planOf('/v1/episodes?tag=t1')).join('\n')).toMatch(/SEARCH t USING PRIMARY KEY/);
    expect((await planOf('/v1/episodes?q=flaky')).join('\n')).toMatch(/VIRTUAL TABLE INDEX/);
  });

  it.each([
    ['/v1/steps', 'steps_by_time'],
    ['/v1/steps?tool=bash', 'steps_by_tool'],
    ['/v1/steps?agent_id=a1', 'steps_by_agent'],
  ])('plan: %s uses %s', async (url, index) => {
    const plan = (await planOf(url, 'steps')).join('\n');
    expect(plan).toContain(index);
    expect(plan).not.toMatch(/TEMP B-TREE/);
  });
});
