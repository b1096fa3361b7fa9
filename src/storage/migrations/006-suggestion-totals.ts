import type { Migration } from './migration.js';

/**
 * The step sequences behind the mined suggestions (SPEC §3.3), kept in the transaction of every write that
 * changes them instead of being mined from a million steps per request:
 * - `suggestion_grams`: per completed episode, each distinct candidate it contains (tool runs of n = 2..4,
 *   kind `tool_sequence`, key ''; the 1..3 tools after an `error` step, kind `error_recovery`, key the tool
 *   that failed), with its occurrences and latency in that episode. Rewritten whole for one episode when
 *   its steps are all in and it is completed, when steps are appended to it completed, and when its domain,
 *   completion or success changes; removed with it.
 * - `suggestion_totals`: the same summed per (kind, domain, task type, candidate): support (episodes),
 *   successes, occurrences, latency. Kept by triggers on `suggestion_grams`; a row whose support falls to 0
 *   is removed.
 * Existing completed episodes are mined into them here.
 */

/** Steps in number order with the three that follow (LEAD), of the steps that `where` selects. */
const SEQUENCE = (where: string) => `SELECT s.tenant, s.episode_id, s.tool AS t1, s.result_type AS r1,
    COALESCE(json_extract(s.body, '$.latency_ms'), 0) AS l1,
    ${[2, 3, 4]
      .map(
        (n) =>
          `LEAD(s.tool, ${n - 1}) OVER w AS t${n}, LEAD(COALESCE(json_extract(s.body, '$.latency_ms'), 0), ${n - 1}) OVER w AS l${n}`,
      )
      .join(', ')}
  FROM steps s WHERE ${where}
  WINDOW w AS (PARTITION BY s.tenant, s.episode_id ORDER BY s.step_number)`;

/** Every window of n = 2..4 steps, as a candidate of each kind it is (an error_recovery window starts with an error). */
const SHAPES = ['tool_sequence', 'error_recovery']
  .flatMap((kind) => [2, 3, 4].map((n) => `SELECT '${kind}' AS kind, ${n} AS n`))
  .join(' UNION ALL ');

const LAST = 'CASE shape.n WHEN 2 THEN seq.t2 WHEN 3 THEN seq.t3 ELSE seq.t4 END';
const RUN =
  'CASE shape.n WHEN 2 THEN json_array(t1, t2) WHEN 3 THEN json_array(t1, t2, t3) ELSE json_array(t1, t2, t3, t4) END';
const AFTER_ERROR =
  'CASE shape.n WHEN 2 THEN json_array(t2) WHEN 3 THEN json_array(t2, t3) ELSE json_array(t2, t3, t4) END';
const RUN_LATENCY = 'CASE shape.n WHEN 2 THEN l1 + l2 WHEN 3 THEN l1 + l2 + l3 ELSE l1 + l2 + l3 + l4 END';

/** Inserts the candidates of the completed episodes whose steps `where` selects. */
const MINE = (where: string) => `INSERT INTO suggestion_grams
    (tenant, episode_id, kind, key, tools, domain, task_type, ok, occurrences, latency)
  SELECT e.tenant, e.id, shape.kind,
    CASE shape.kind WHEN 'tool_sequence' THEN '' ELSE seq.t1 END AS key,
    CASE shape.kind WHEN 'tool_sequence' THEN ${RUN} ELSE ${AFTER_ERROR} END AS tools,
    e.domain, e.task_type, e.outcome_type IS 'success', COUNT(*),
    SUM(CASE shape.kind WHEN 'tool_sequence' THEN ${RUN_LATENCY} ELSE 0 END)
  FROM (${SEQUENCE(where)}) AS seq
  JOIN (${SHAPES}) AS shape ON ${LAST} IS NOT NULL AND (shape.kind = 'tool_sequence' OR seq.r1 IS 'error')
  JOIN episodes e ON e.tenant = seq.tenant AND e.id = seq.episode_id AND e.end_time IS NOT NULL
  GROUP BY e.tenant, e.id, shape.kind, key, tools`;

/** Forgets, then mines again, the episode (tenant, id). For trigger bodies. */
const REMINE = (tenant: string, id: string) => `
  DELETE FROM suggestion_grams WHERE tenant = ${tenant} AND episode_id = ${id};
  ${MINE(`s.tenant = ${tenant} AND s.episode_id = ${id}`)};`;

export const suggestionTotals: Migration = {
  version: 6,
  name: 'running totals for the mined suggestions',
  statements: [
    `CREATE TABLE suggestion_grams (
        tenant TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('tool_sequence', 'error_recovery')),
        key TEXT NOT NULL,
        tools TEXT NOT NULL,
        domain TEXT NOT NULL,
        task_type TEXT NOT NULL,
        ok INTEGER NOT NULL,
        occurrences INTEGER NOT NULL,
        latency REAL NOT NULL,
        PRIMARY KEY (tenant, kind, domain, key, tools, episode_id)
      ) WITHOUT ROWID`,
    `CREATE INDEX suggestion_grams_by_episode ON suggestion_grams (tenant, episode_id, kind)`,
    // The completed episodes by start time: the range a query with `since` reads.
    `CREATE INDEX episodes_completed_by_start ON episodes (tenant, start_time DESC, id DESC) WHERE end_time IS NOT NULL`,
    `CREATE TABLE suggestion_totals (
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        domain TEXT NOT NULL,
        key TEXT NOT NULL,
        tools TEXT NOT NULL,
        task_type TEXT NOT NULL,
        support INTEGER NOT NULL,
        successes INTEGER NOT NULL,
        occurrences INTEGER NOT NULL,
        latency REAL NOT NULL,
        PRIMARY KEY (tenant, kind, domain, key, tools, task_type)
      ) WITHOUT ROWID`,
    `CREATE TRIGGER suggestion_grams_insert AFTER INSERT ON suggestion_grams BEGIN
         INSERT INTO suggestion_totals (tenant, kind, domain, key, tools, task_type, support, successes, occurrences, latency)
         VALUES (NEW.tenant, NEW.kind, NEW.domain, NEW.key, NEW.tools, NEW.task_type, 1, NEW.ok, NEW.occurrences, NEW.latency)
         ON CONFLICT (tenant, kind, domain, key, tools, task_type) DO UPDATE SET support = support + 1,
           successes = successes + excluded.successes, occurrences = occurrences + excluded.occurrences,
           latency = latency + excluded.latency;
       END`,
    `CREATE TRIGGER suggestion_grams_delete AFTER DELETE ON suggestion_grams BEGIN
         UPDATE suggestion_totals SET support = support - 1, successes = successes - OLD.ok,
           occurrences = occurrences - OLD.occurrences, latency = latency - OLD.latency
         WHERE tenant = OLD.tenant AND kind = OLD.kind AND domain = OLD.domain AND key = OLD.key
           AND tools = OLD.tools AND task_type = OLD.task_type;
         DELETE FROM suggestion_totals
         WHERE tenant = OLD.tenant AND kind = OLD.kind AND domain = OLD.domain AND key = OLD.key
           AND tools = OLD.tools AND task_type = OLD.task_type AND support = 0;
       END`,
    // A completed episode's steps are all in when their count reaches its step_count: its last step in a
    // create (the row carries the final count), never during an append (the count moves after the inserts).
    // CASE, not AND: an open episode's steps are never counted.
    `CREATE TRIGGER steps_suggestions_insert AFTER INSERT ON steps
       WHEN (SELECT CASE WHEN end_time IS NULL THEN 0 ELSE step_count = (
               SELECT COUNT(*) FROM steps s WHERE s.tenant = NEW.tenant AND s.episode_id = NEW.episode_id) END
             FROM episodes WHERE tenant = NEW.tenant AND id = NEW.episode_id) BEGIN
         ${REMINE('NEW.tenant', 'NEW.episode_id')}
       END`,
    // Steps appended (step_count moves), completion, domain or success changed.
    `CREATE TRIGGER episodes_suggestions_update
       AFTER UPDATE OF step_count, end_time, domain, task_type, outcome_type ON episodes
       WHEN (NEW.end_time IS NOT NULL AND OLD.step_count IS NOT NEW.step_count)
         OR (OLD.end_time IS NULL) IS NOT (NEW.end_time IS NULL)
         OR OLD.domain IS NOT NEW.domain OR OLD.task_type IS NOT NEW.task_type
         OR (OLD.outcome_type IS 'success') IS NOT (NEW.outcome_type IS 'success') BEGIN
         ${REMINE('NEW.tenant', 'NEW.id')}
       END`,
    `CREATE TRIGGER episodes_suggestions_delete AFTER DELETE ON episodes BEGIN
         DELETE FROM suggestion_grams WHERE tenant = OLD.tenant AND episode_id = OLD.id;
       END`,
    MINE('true'),
  ],
};
