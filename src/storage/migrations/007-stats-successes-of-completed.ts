import type { Migration } from './migration.js';

const DIMENSIONS = ['task_type', 'domain'] as const;

/** The totals one episode row adds to its `stats_episodes` row, as SQL over `row` (NEW, OLD or a table). */
const contribution = (row: string) => ({
  completed: `${row}.end_time IS NOT NULL`,
  // A success counts once the episode is completed: success_rate = successes / completed stays in [0, 1]
  // when an in-progress episode already carries a success outcome (a PATCH may set one).
  successes: `(${row}.end_time IS NOT NULL AND ${row}.outcome_type IS 'success')`,
  rewarded: `${row}.reward_total IS NOT NULL`,
  reward: `COALESCE(${row}.reward_total, 0)`,
});

const add = (dimension: string) => {
  const c = contribution('NEW');
  return `INSERT INTO stats_episodes (tenant, dimension, value, episodes, completed, successes, rewarded, reward_sum)
    VALUES (NEW.tenant, '${dimension}', NEW.${dimension}, 1, ${c.completed}, ${c.successes}, ${c.rewarded}, ${c.reward})
    ON CONFLICT (tenant, dimension, value) DO UPDATE SET episodes = episodes + 1,
      completed = completed + excluded.completed, successes = successes + excluded.successes,
      rewarded = rewarded + excluded.rewarded, reward_sum = reward_sum + excluded.reward_sum;`;
};

const remove = (dimension: string) => {
  const c = contribution('OLD');
  return `UPDATE stats_episodes SET episodes = episodes - 1, completed = completed - (${c.completed}),
      successes = successes - ${c.successes}, rewarded = rewarded - (${c.rewarded}), reward_sum = reward_sum - ${c.reward}
    WHERE tenant = OLD.tenant AND dimension = '${dimension}' AND value = OLD.${dimension};`;
};

/**
 * `stats_episodes.successes` counts completed successful episodes only. Migration 3 counted every episode
 * whose outcome was success, so an in-progress episode PATCHed to a success outcome made successes exceed
 * completed and `success_rate` exceed 1 (found by the fuzz tier). The triggers are replaced and the totals
 * recounted from the episodes.
 */
export const statsSuccessesOfCompleted: Migration = {
  version: 7,
  name: 'stats count a success only once its episode is completed',
  statements: [
    ...DIMENSIONS.flatMap((dimension) => [
      `DROP TRIGGER episodes_stats_insert_${dimension}`,
      `DROP TRIGGER episodes_stats_delete_${dimension}`,
      `DROP TRIGGER episodes_stats_update_${dimension}`,
      `CREATE TRIGGER episodes_stats_insert_${dimension} AFTER INSERT ON episodes BEGIN ${add(dimension)} END`,
      `CREATE TRIGGER episodes_stats_delete_${dimension} AFTER DELETE ON episodes BEGIN ${remove(dimension)} END`,
      `CREATE TRIGGER episodes_stats_update_${dimension}
         AFTER UPDATE OF ${dimension}, end_time, outcome_type, reward_total ON episodes
         BEGIN ${remove(dimension)} ${add(dimension)} END`,
    ]),
    'DELETE FROM stats_episodes',
    ...DIMENSIONS.map((dimension) => {
      const c = contribution('episodes');
      return `INSERT INTO stats_episodes (tenant, dimension, value, episodes, completed, successes, rewarded, reward_sum)
        SELECT tenant, '${dimension}', ${dimension}, COUNT(*), SUM(${c.completed}), SUM(${c.successes}),
          SUM(${c.rewarded}), TOTAL(reward_total)
        FROM episodes GROUP BY tenant, ${dimension}`;
    }),
  ],
};
