import { openRaw } from './baselines.js';
import { DOMAIN_COUNT } from './workload.js';

// The analytics population (issue 10: 100,000 episodes / 1,000,000 steps), written by direct SQL in the
// bench's own process into the server's file (WAL; the idle server keeps running): seconds instead of many
// minutes through the batch API. Migration 3's triggers keep the stats' running totals, and migration 6's
// the mined suggestions' (each completed episode mined when its last step is in), exactly as for writes
// through the API. Rows carry what the stats and the mined suggestions read (the indexed columns and
// each step's latency); the bodies are minimal. Ids are UUID-shaped so that answers pass their schemas.

const TOOLS = ['read_file', 'grep', 'edit_file', 'bash', 'run_tests', 'search', 'write_file', 'lint'];
const TASK_TYPES = ['code_generation', 'debugging', 'refactoring', 'testing', 'analysis', 'documentation'];
const pick = (values: readonly string[], index: string) =>
  `json_extract('${JSON.stringify(values)}', '$[' || ((${index}) % ${values.length}) || ']')`;

/** Episode `i`'s id in a population of `series` (populations of different series never share an id). */
export const populationId = (i: number, series = 0) =>
  `${i.toString(16).padStart(8, '0')}-${series.toString(16).padStart(4, '0')}-7000-8000-000000000000`;

/**
 * Writes `episodes` episodes of `stepsPerEpisode` steps each (none for 0) under tenant `default`, with the
 * ids `populationId(i, series)`; returns seconds taken.
 */
export function populateAnalytics(
  dbPath: string,
  episodes: number,
  stepsPerEpisode: number,
  series = 0,
): number {
  const started = performance.now();
  const raw = openRaw(dbPath);
  const start = Date.now() - 365 * 86_400_000;
  try {
    raw.db.exec('BEGIN IMMEDIATE');
    // Episode i: domain i mod 20, task type i mod 6, one minute apart; completed unless i mod 4 = 3, and
    // a success two times in three.
    raw.db.exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${episodes})
      INSERT INTO episodes (tenant, id, agent_id, task_type, domain, language, complexity, start_time, end_time,
        outcome_type, reward_total, step_count, created_at, updated_at, version, body, body_hash)
      SELECT 'default', printf('%08x-%04x-7000-8000-000000000000', i, ${series}), 'agent-' || (i % 50),
        ${pick(TASK_TYPES, 'i')}, printf('domain-%02d', i % ${DOMAIN_COUNT}), 'typescript', 'moderate',
        ${start} + i * 60000,
        CASE WHEN i % 4 = 3 THEN NULL ELSE ${start} + i * 60000 + 45000 END,
        CASE WHEN i % 4 = 3 THEN NULL WHEN i % 3 = 0 THEN 'failure' ELSE 'success' END,
        CASE WHEN i % 4 = 3 THEN NULL WHEN i % 3 = 0 THEN 0.1 ELSE 0.8 END,
        ${stepsPerEpisode}, ${start} + i * 60000, ${start} + i * 60000, 1,
        json_object('task_description', 'analytics episode ' || i), 'bench'
      FROM n`);
    if (stepsPerEpisode === 0) {
      raw.db.exec('COMMIT');
      return (performance.now() - started) / 1000;
    }
    // Step k of episode i: tools in a few recurring orders (so that n-grams repeat), an error 1 time in 17.
    raw.db.exec(`WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < ${stepsPerEpisode}),
      s AS (
        SELECT e.id, e.start_time, k.k, (e.start_time - ${start}) / 60000 AS i FROM episodes e, k
        WHERE e.tenant = 'default' AND e.body_hash = 'bench' AND substr(e.id, 10, 4) = printf('%04x', ${series})
      )
      INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, agent_id, body)
      SELECT 'default', id, k, start_time + k * 1000, tool, result, NULL,
        json_object('tool', tool, 'action', tool || ' step ' || k, 'latency_ms', 40 + (i * 7 + k) % 400,
          'result', json_object('type', result))
      FROM (SELECT *, ${pick(TOOLS, 'i * 3 + k * (1 + i % 3)')} AS tool,
          CASE WHEN (i + k) % 17 = 0 THEN 'error' ELSE 'success' END AS result FROM s)`);
    raw.db.exec('COMMIT');
  } catch (err) {
    if (raw.db.inTransaction) raw.db.exec('ROLLBACK');
    throw err;
  } finally {
    raw.close();
  }
  return (performance.now() - started) / 1000;
}
