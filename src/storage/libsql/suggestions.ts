import type { Database } from '../../db/database.js';
import type { Row } from '../../db/types.js';
import type { PatternCreate } from '../../domain/pattern.js';
import { MAX_EVIDENCE_IDS, type Suggestion, type SuggestionQuery } from '../../domain/suggestions.js';
import { whereEpisodeMatches } from './episode-filter.js';
import { tenantScope } from './where.js';

// Mined suggestions (SPEC §3.3), computed in SQL from the steps table: each completed episode's steps in
// number order, windows of consecutive tools (LEAD), grouped first per episode (support counts episodes,
// not occurrences) and then per candidate, with the newest evidence ids kept by a ranked FILTER.

const LEADS = [1, 2, 3]
  .map(
    (n) =>
      `LEAD(s.tool, ${n}) OVER w AS t${n + 1}, LEAD(COALESCE(json_extract(s.body, '$.latency_ms'), 0), ${n}) OVER w AS l${n + 1}`,
  )
  .join(', ');

/** Candidate rows (episode_id, domain, ok, key, tools, latency) of each kind, from `seq`. */
const CANDIDATES: Record<SuggestionQuery['kind'], string> = {
  // Runs of n = 2..4 consecutive tools; `key` is the run itself.
  tool_sequence: [2, 3, 4]
    .map((n) => {
      const tools = Array.from({ length: n }, (_, i) => `t${i + 1}`);
      const latency = Array.from({ length: n }, (_, i) => `l${i + 1}`).join(' + ');
      return `SELECT episode_id, domain, ok, '' AS key, json_array(${tools.join(', ')}) AS tools, ${latency} AS latency
        FROM seq WHERE t${n} IS NOT NULL`;
    })
    .join(' UNION ALL '),
  // The 1..3 tools after a step whose result was an error; `key` is the tool that failed.
  error_recovery: [2, 3, 4]
    .map((n) => {
      const tools = Array.from({ length: n - 1 }, (_, i) => `t${i + 2}`);
      return `SELECT episode_id, domain, ok, t1 AS key, json_array(${tools.join(', ')}) AS tools, 0 AS latency
        FROM seq WHERE r1 IS 'error' AND t${n} IS NOT NULL`;
    })
    .join(' UNION ALL '),
};

function suggestionSql(tenant: string, q: SuggestionQuery) {
  // Completed episodes, archived or not, through the one episode filter.
  const episodes = whereEpisodeMatches(tenantScope(tenant, 'e'), {
    archived: 'any',
    tags_match: 'any',
    status: 'completed',
    domain: q.domain,
    task_type: q.task_type === undefined ? undefined : [q.task_type],
    started_after: q.since,
  });
  const steps = tenantScope(tenant, 's').and('s.episode_id = ep.id');
  const having = q.kind === 'error_recovery' ? 'COUNT(*) >= ? AND SUM(ok) > 0' : 'COUNT(*) >= ?';
  const sql = `WITH ep AS (
      SELECT e.id, e.domain, e.outcome_type IS 'success' AS ok FROM episodes e WHERE ${episodes}
    ), seq AS (
      SELECT ep.id AS episode_id, ep.domain, ep.ok, s.tool AS t1, s.result_type AS r1,
        COALESCE(json_extract(s.body, '$.latency_ms'), 0) AS l1, ${LEADS}
      FROM ep JOIN steps s ON ${steps}
      WINDOW w AS (PARTITION BY s.episode_id ORDER BY s.step_number)
    ), candidates AS (${CANDIDATES[q.kind]}
    ), per_episode AS (
      SELECT domain, key, tools, episode_id, ok, COUNT(*) AS occurrences, SUM(latency) AS latency
      FROM candidates GROUP BY domain, key, tools, episode_id
    ), ranked AS (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY domain, key, tools ORDER BY episode_id DESC) AS rank FROM per_episode
    )
    SELECT domain, key, tools, COUNT(*) AS support, SUM(ok) AS successes, SUM(occurrences) AS occurrences,
      SUM(latency) AS latency, json_group_array(episode_id) FILTER (WHERE rank <= ?) AS evidence
    FROM ranked GROUP BY domain, key, tools HAVING ${having}
    ORDER BY support DESC, successes DESC, domain, key, tools LIMIT ?`;
  return { sql, args: [...episodes.args, ...steps.args, MAX_EVIDENCE_IDS, q.min_support, q.limit] };
}

function patternOf(kind: SuggestionQuery['kind'], row: Row): PatternCreate {
  const tools = JSON.parse(String(row.tools)) as string[];
  const context = { domain: String(row.domain) };
  const successRate = Number(row.successes) / Number(row.support);
  if (kind === 'error_recovery') {
    return { kind, error_type: String(row.key), recovery_steps: tools, success_rate: successRate, context };
  }
  return {
    kind,
    tools,
    context,
    success_rate: successRate,
    avg_latency_ms: Number(row.latency) / Number(row.occurrences),
    occurrence_count: Number(row.occurrences),
  };
}

/** The candidates of `q`, most supported first. A heavy read: off the event loop, under the call deadline. */
export async function minedSuggestions(
  db: Database,
  tenant: string,
  q: SuggestionQuery,
): Promise<Suggestion[]> {
  const { sql, args } = suggestionSql(tenant, q);
  const rows = await db.scan(sql, args);
  return rows.map((row) => ({
    pattern: patternOf(q.kind, row),
    support: Number(row.support),
    successes: Number(row.successes),
    evidence_episode_ids: (JSON.parse(String(row.evidence)) as string[]).sort().reverse(),
  }));
}
