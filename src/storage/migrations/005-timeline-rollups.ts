import type { Migration } from './migration.js';

// Hourly rollups for the timeline and domains (SPEC §3.5, issue 12.7): counts and sums per tenant and UTC hour
// of the episodes that are not archived, by episode start, and the tool uses of their steps, by step time.
// Triggers keep them in the transaction of every write that changes an episode or adds a step (create, batch,
// patch, complete, archive, delete), so no write path can forget them; this migration builds them from the
// rows that exist. Each exists three times: per UTC day alone (a timeline without filters reads the whole
// days of a year in 365 rows), per hour alone (the hours at the ends of a bucket in another zone), and per
// hour, domain, task type and agent (the filtered timeline and the domains). An episode without an agent
// counts under agent_id '' (agent ids are never empty).

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** The start of the UTC hour (or day) of a time in ms, for negative times too (SQLite's % keeps the sign). */
const startOf = (t: string, grain: number) => `(${t} - ((${t} % ${grain}) + ${grain}) % ${grain})`;
const hourOf = (t: string) => startOf(t, HOUR_MS);
const dayOf = (t: string) => startOf(t, DAY_MS);

const EPISODE_SUMS = ['episodes', 'completed', 'successes', 'rewarded', 'reward_sum'];
const KINDS = ['domain', 'task_type', 'agent_id'];

/** What one episode row `r` adds (sign 1) or takes away (-1), in the order of EPISODE_SUMS. */
const episodeSums = (r: string, sign: 1 | -1) => [
  `${sign}`,
  `${sign} * (${r}.end_time IS NOT NULL)`,
  // A success counts once completed, so successes ≤ completed (as in the stats).
  `${sign} * (${r}.end_time IS NOT NULL AND ${r}.outcome_type IS 'success')`,
  `${sign} * (${r}.reward_total IS NOT NULL)`,
  `${sign} * COALESCE(${r}.reward_total, 0)`,
];

const addOnConflict = (key: string[], sums: string[]) =>
  `ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${sums.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;

/** Upserts an episode row `r` (NEW or OLD in a trigger) into the episode rollups, when it is not archived. */
function episodeDelta(r: string, sign: 1 | -1): string[] {
  const sums = episodeSums(r, sign);
  return [
    `INSERT INTO episode_days (tenant, day, ${EPISODE_SUMS.join(', ')})
       SELECT ${r}.tenant, ${dayOf(`${r}.start_time`)}, ${sums.join(', ')} WHERE ${r}.archived = 0
       ${addOnConflict(['tenant', 'day'], EPISODE_SUMS)}`,
    `INSERT INTO episode_hours (tenant, hour, ${EPISODE_SUMS.join(', ')})
       SELECT ${r}.tenant, ${hourOf(`${r}.start_time`)}, ${sums.join(', ')} WHERE ${r}.archived = 0
       ${addOnConflict(['tenant', 'hour'], EPISODE_SUMS)}`,
    `INSERT INTO episode_kind_hours (tenant, hour, ${KINDS.join(', ')}, ${EPISODE_SUMS.join(', ')})
       SELECT ${r}.tenant, ${hourOf(`${r}.start_time`)}, ${r}.domain, ${r}.task_type, COALESCE(${r}.agent_id, ''),
         ${sums.join(', ')} WHERE ${r}.archived = 0
       ${addOnConflict(['tenant', 'hour', ...KINDS], EPISODE_SUMS)}`,
  ];
}

/**
 * Upserts the tool uses of the steps `st` (a steps alias, or NEW/OLD in a step trigger) read `from` ... `where`,
 * counted under the episode row `ep`, into the tool rollups, grouped, when that episode is not archived.
 * (`WHERE ... GROUP BY` precedes ON CONFLICT, as SQLite's grammar needs.)
 */
function toolDelta(st: string, from: string, where: string, ep: string, sign: 1 | -1): string[] {
  const cond = `${where} AND ${ep}.archived = 0`;
  const hour = hourOf(`${st}.timestamp`);
  return [
    `INSERT INTO tool_days (tenant, day, tool, uses)
       SELECT ${st}.tenant, ${dayOf(`${st}.timestamp`)} AS d, ${st}.tool AS t, ${sign} * COUNT(*) FROM ${from}
       WHERE ${cond} GROUP BY d, t
       ${addOnConflict(['tenant', 'day', 'tool'], ['uses'])}`,
    `INSERT INTO tool_hours (tenant, hour, tool, uses)
       SELECT ${st}.tenant, ${hour} AS h, ${st}.tool AS t, ${sign} * COUNT(*) FROM ${from} WHERE ${cond}
       GROUP BY h, t
       ${addOnConflict(['tenant', 'hour', 'tool'], ['uses'])}`,
    `INSERT INTO tool_kind_hours (tenant, hour, ${KINDS.join(', ')}, tool, uses)
       SELECT ${st}.tenant, ${hour} AS h, ${ep}.domain, ${ep}.task_type, COALESCE(${ep}.agent_id, ''),
         ${st}.tool AS t, ${sign} * COUNT(*) FROM ${from} WHERE ${cond}
       GROUP BY h, t
       ${addOnConflict(['tenant', 'hour', ...KINDS, 'tool'], ['uses'])}`,
  ];
}

/** The steps of the episode row `r` (NEW or OLD in an episode trigger), counted under `r`. */
const stepsOf = (r: string, sign: 1 | -1) =>
  toolDelta('s', 'steps s', `s.tenant = ${r}.tenant AND s.episode_id = ${r}.id`, r, sign);
/** The step row `r` (NEW or OLD in a step trigger), counted under its episode. */
const stepAlone = (r: string, sign: 1 | -1) =>
  toolDelta(r, 'episodes e', `e.tenant = ${r}.tenant AND e.id = ${r}.episode_id`, 'e', sign);

const trigger = (head: string, body: string[]) => `${head} BEGIN ${body.map((s) => `${s};`).join(' ')} END`;

export const timelineRollups: Migration = {
  version: 5,
  name: 'daily and hourly rollups of episodes and tool uses for the timeline and domains, kept by triggers',
  statements: [
    `CREATE TABLE episode_days (
        tenant TEXT NOT NULL, day INTEGER NOT NULL,
        episodes INTEGER NOT NULL, completed INTEGER NOT NULL, successes INTEGER NOT NULL,
        rewarded INTEGER NOT NULL, reward_sum REAL NOT NULL,
        PRIMARY KEY (tenant, day)
      ) WITHOUT ROWID`,
    `CREATE TABLE tool_days (
        tenant TEXT NOT NULL, day INTEGER NOT NULL, tool TEXT NOT NULL, uses INTEGER NOT NULL,
        PRIMARY KEY (tenant, day, tool)
      ) WITHOUT ROWID`,
    `CREATE TABLE episode_hours (
        tenant TEXT NOT NULL, hour INTEGER NOT NULL,
        episodes INTEGER NOT NULL, completed INTEGER NOT NULL, successes INTEGER NOT NULL,
        rewarded INTEGER NOT NULL, reward_sum REAL NOT NULL,
        PRIMARY KEY (tenant, hour)
      ) WITHOUT ROWID`,
    `CREATE TABLE episode_kind_hours (
        tenant TEXT NOT NULL, hour INTEGER NOT NULL, domain TEXT NOT NULL, task_type TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        episodes INTEGER NOT NULL, completed INTEGER NOT NULL, successes INTEGER NOT NULL,
        rewarded INTEGER NOT NULL, reward_sum REAL NOT NULL,
        PRIMARY KEY (tenant, hour, domain, task_type, agent_id)
      ) WITHOUT ROWID`,
    `CREATE TABLE tool_hours (
        tenant TEXT NOT NULL, hour INTEGER NOT NULL, tool TEXT NOT NULL, uses INTEGER NOT NULL,
        PRIMARY KEY (tenant, hour, tool)
      ) WITHOUT ROWID`,
    `CREATE TABLE tool_kind_hours (
        tenant TEXT NOT NULL, hour INTEGER NOT NULL, domain TEXT NOT NULL, task_type TEXT NOT NULL,
        agent_id TEXT NOT NULL, tool TEXT NOT NULL, uses INTEGER NOT NULL,
        PRIMARY KEY (tenant, hour, domain, task_type, agent_id, tool)
      ) WITHOUT ROWID`,
    // The rows that exist (every trigger below adds to these).
    `INSERT INTO episode_days (tenant, day, ${EPISODE_SUMS.join(', ')})
       SELECT e.tenant, ${dayOf('e.start_time')} AS d, ${episodeSums('e', 1)
         .map((x) => `SUM(${x})`)
         .join(', ')}
       FROM episodes e WHERE e.archived = 0 GROUP BY e.tenant, d`,
    `INSERT INTO tool_days (tenant, day, tool, uses)
       SELECT s.tenant, ${dayOf('s.timestamp')} AS d, s.tool, COUNT(*)
       FROM steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
       WHERE e.archived = 0 GROUP BY s.tenant, d, s.tool`,
    `INSERT INTO episode_hours (tenant, hour, ${EPISODE_SUMS.join(', ')})
       SELECT e.tenant, ${hourOf('e.start_time')} AS h, ${episodeSums('e', 1)
         .map((x) => `SUM(${x})`)
         .join(', ')}
       FROM episodes e WHERE e.archived = 0 GROUP BY e.tenant, h`,
    `INSERT INTO episode_kind_hours (tenant, hour, ${KINDS.join(', ')}, ${EPISODE_SUMS.join(', ')})
       SELECT e.tenant, ${hourOf('e.start_time')} AS h, e.domain, e.task_type, COALESCE(e.agent_id, '') AS a,
         ${episodeSums('e', 1)
           .map((x) => `SUM(${x})`)
           .join(', ')}
       FROM episodes e WHERE e.archived = 0 GROUP BY e.tenant, h, e.domain, e.task_type, a`,
    `INSERT INTO tool_hours (tenant, hour, tool, uses)
       SELECT s.tenant, ${hourOf('s.timestamp')} AS h, s.tool, COUNT(*)
       FROM steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
       WHERE e.archived = 0 GROUP BY s.tenant, h, s.tool`,
    `INSERT INTO tool_kind_hours (tenant, hour, ${KINDS.join(', ')}, tool, uses)
       SELECT s.tenant, ${hourOf('s.timestamp')} AS h, e.domain, e.task_type, COALESCE(e.agent_id, '') AS a, s.tool,
         COUNT(*)
       FROM steps s JOIN episodes e ON e.tenant = s.tenant AND e.id = s.episode_id
       WHERE e.archived = 0 GROUP BY s.tenant, h, e.domain, e.task_type, a, s.tool`,
    trigger('CREATE TRIGGER episode_rollups_insert AFTER INSERT ON episodes', episodeDelta('NEW', 1)),
    // Any column a rollup reads or is keyed by; the old row leaves, the new one arrives.
    trigger(
      `CREATE TRIGGER episode_rollups_update
         AFTER UPDATE OF start_time, end_time, outcome_type, reward_total, archived, domain, task_type, agent_id
         ON episodes`,
      [...episodeDelta('OLD', -1), ...episodeDelta('NEW', 1)],
    ),
    // Its steps move with it when what they are counted under changes (archived, or the episode's kind).
    trigger(
      `CREATE TRIGGER episode_rollups_update_steps AFTER UPDATE OF archived, domain, task_type, agent_id ON episodes
         WHEN OLD.archived IS NOT NEW.archived OR OLD.domain IS NOT NEW.domain
           OR OLD.task_type IS NOT NEW.task_type OR OLD.agent_id IS NOT NEW.agent_id`,
      [...stepsOf('OLD', -1), ...stepsOf('NEW', 1)],
    ),
    // BEFORE: the steps go by cascade, and a step's own trigger no longer finds its episode then.
    trigger('CREATE TRIGGER episode_rollups_delete BEFORE DELETE ON episodes', [
      ...episodeDelta('OLD', -1),
      ...stepsOf('OLD', -1),
    ]),
    trigger('CREATE TRIGGER step_rollups_insert AFTER INSERT ON steps', stepAlone('NEW', 1)),
    // A step deleted on its own (an episode's delete has taken its steps away already, see above).
    trigger('CREATE TRIGGER step_rollups_delete AFTER DELETE ON steps', stepAlone('OLD', -1)),
  ],
};
