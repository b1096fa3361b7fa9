import type { Database } from '../../db/database.js';
import type { Row } from '../../db/types.js';
import type { TaskType } from '../../domain/episode.js';
import { PatternKind } from '../../domain/pattern.js';
import type { StatsRecord } from '../../domain/stats.js';
import type { StatsRepository } from '../stats-repository.js';
import { tenantScope } from './where.js';

/** One row of `stats_episodes` as the answer shows it. */
function outcomeTotals(row: Row) {
  const completed = Number(row.completed);
  const rewarded = Number(row.rewarded);
  return {
    episodes: Number(row.episodes),
    completed,
    successes: Number(row.successes),
    success_rate: completed === 0 ? null : Number(row.successes) / completed,
    avg_reward: rewarded === 0 ? null : Number(row.reward_sum) / rewarded,
  };
}

const EPISODE_TOTALS = 'value, episodes, completed, successes, rewarded, reward_sum';

/** Stats from the running totals (migration 3) and the patterns' kind index: no scan of episodes or steps. */
export class LibsqlStatsRepository implements StatsRepository {
  constructor(private readonly db: Database) {}

  async stats(tenant: string, top: number): Promise<StatsRecord> {
    const ofDimension = (dimension: string) =>
      tenantScope(tenant).and('dimension = ?', dimension).and('episodes > 0');
    const byTaskType = ofDimension('task_type');
    const byDomain = ofDimension('domain');
    const tools = tenantScope(tenant).and('uses > 0');
    const all = tenantScope(tenant);
    const [taskTypes, domains, topTools, steps, kinds, heuristics] = await Promise.all([
      this.db.scan(
        `SELECT ${EPISODE_TOTALS} FROM stats_episodes WHERE ${byTaskType} ORDER BY value`,
        byTaskType.args,
      ),
      this.db.scan(
        `SELECT ${EPISODE_TOTALS} FROM stats_episodes WHERE ${byDomain} ORDER BY episodes DESC, value LIMIT ?`,
        [...byDomain.args, top],
      ),
      this.db.scan(
        `SELECT tool, uses, errors FROM stats_tools WHERE ${tools} ORDER BY uses DESC, tool LIMIT ?`,
        [...tools.args, top],
      ),
      this.db.scan(`SELECT COALESCE(SUM(uses), 0) AS n FROM stats_tools WHERE ${all}`, all.args),
      this.db.scan(`SELECT kind, COUNT(*) AS n FROM patterns WHERE ${all} GROUP BY kind`, all.args),
      this.db.scan(`SELECT COUNT(*) AS n FROM heuristics WHERE ${all}`, all.args),
    ]);
    const patternsByKind = Object.fromEntries(
      PatternKind.options.map((kind) => [kind, 0]),
    ) as StatsRecord['patterns_by_kind'];
    for (const row of kinds) patternsByKind[row.kind as keyof typeof patternsByKind] = Number(row.n);
    const byTaskTypeRows = taskTypes.map((row) => ({
      task_type: row.value as TaskType,
      ...outcomeTotals(row),
    }));
    return {
      counts: {
        episodes: byTaskTypeRows.reduce((sum, row) => sum + row.episodes, 0),
        steps: Number(steps[0]?.n ?? 0),
        patterns: Object.values(patternsByKind).reduce((sum, n) => sum + n, 0),
        heuristics: Number(heuristics[0]?.n ?? 0),
      },
      by_task_type: byTaskTypeRows,
      by_domain: domains.map((row) => ({ domain: row.value as string, ...outcomeTotals(row) })),
      top_tools: topTools.map((row) => ({
        tool: row.tool as string,
        uses: Number(row.uses),
        errors: Number(row.errors),
        error_rate: Number(row.errors) / Number(row.uses),
      })),
      patterns_by_kind: patternsByKind,
    };
  }
}
