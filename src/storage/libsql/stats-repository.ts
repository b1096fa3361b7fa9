import type { Database } from '../../db/database.js';
import type { Row } from '../../db/types.js';
import type { TaskType } from '../../domain/episode.js';
import { PatternKind } from '../../domain/pattern.js';
import type { StatsRecord } from '../../domain/stats.js';
import type { StatsRepository } from '../stats-repository.js';
import { finiteOrNull, meanOrNull } from './finite.js';
import { tenantScope } from './where.js';

/** One row of `stats_episodes` as the answer shows it. */
function outcomeTotals(row: Row) {
  const completed = Number(row.completed);
  return {
    episodes: Number(row.episodes),
    completed,
    successes: Number(row.successes),
    success_rate: completed === 0 ? null : Number(row.successes) / completed,
    avg_reward: meanOrNull(row.reward_sum, Number(row.rewarded)),
  };
}

/**
 * Stats from the running totals (migration 3) and the patterns' kind index: no scan of episodes or steps.
 * One statement (one round trip, one read snapshot): each part of the answer is an arm of a UNION ALL whose
 * rows carry the part's name; within a part, rows are ordered here.
 */
export class LibsqlStatsRepository implements StatsRepository {
  constructor(private readonly db: Database) {}

  async stats(tenant: string, top: number): Promise<StatsRecord> {
    const ofDimension = (dimension: string) =>
      tenantScope(tenant).and('dimension = ?', dimension).and('episodes > 0');
    const byTaskType = ofDimension('task_type');
    const byDomain = ofDimension('domain');
    const tools = tenantScope(tenant).and('uses > 0');
    const all = tenantScope(tenant);
    const totals = `value, episodes, completed, successes, rewarded, ${finiteOrNull('reward_sum')} AS reward_sum`;
    const rows = await this.db.scan(
      `SELECT 'task_type' AS part, ${totals} FROM stats_episodes WHERE ${byTaskType}
       UNION ALL SELECT * FROM (SELECT 'domain', ${totals} FROM stats_episodes WHERE ${byDomain}
         ORDER BY episodes DESC, value LIMIT ?)
       UNION ALL SELECT * FROM (SELECT 'tool', tool, uses, errors, NULL, NULL, NULL FROM stats_tools WHERE ${tools}
         ORDER BY uses DESC, tool LIMIT ?)
       UNION ALL SELECT 'steps', NULL, COALESCE(SUM(uses), 0), NULL, NULL, NULL, NULL FROM stats_tools WHERE ${all}
       UNION ALL SELECT 'kind', kind, COUNT(*), NULL, NULL, NULL, NULL FROM patterns WHERE ${all} GROUP BY kind
       UNION ALL SELECT 'heuristics', NULL, COUNT(*), NULL, NULL, NULL, NULL FROM heuristics WHERE ${all}`,
      [...byTaskType.args, ...byDomain.args, top, ...tools.args, top, ...all.args, ...all.args, ...all.args],
    );
    const part = (name: string) => rows.filter((row) => row.part === name);
    const count = (name: string) => Number(part(name)[0]?.episodes ?? 0);
    const byName = (a: Row, b: Row) => (String(a.value) < String(b.value) ? -1 : 1);
    const mostFirst = (a: Row, b: Row) => Number(b.episodes) - Number(a.episodes) || byName(a, b);
    const patternsByKind = Object.fromEntries(
      PatternKind.options.map((kind) => [kind, 0]),
    ) as StatsRecord['patterns_by_kind'];
    for (const row of part('kind'))
      patternsByKind[row.value as keyof typeof patternsByKind] = Number(row.episodes);
    const byTaskTypeRows = part('task_type')
      .sort(byName)
      .map((row) => ({ task_type: row.value as TaskType, ...outcomeTotals(row) }));
    return {
      counts: {
        episodes: byTaskTypeRows.reduce((sum, row) => sum + row.episodes, 0),
        steps: count('steps'),
        patterns: Object.values(patternsByKind).reduce((sum, n) => sum + n, 0),
        heuristics: count('heuristics'),
      },
      by_task_type: byTaskTypeRows,
      by_domain: part('domain')
        .sort(mostFirst)
        .map((row) => ({ domain: row.value as string, ...outcomeTotals(row) })),
      // A tool row: value = tool, episodes = uses, completed = errors.
      top_tools: part('tool')
        .sort(mostFirst)
        .map((row) => ({
          tool: row.value as string,
          uses: Number(row.episodes),
          errors: Number(row.completed),
          error_rate: Number(row.completed) / Number(row.episodes),
        })),
      patterns_by_kind: patternsByKind,
    };
  }
}
