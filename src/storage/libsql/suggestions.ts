import type { Database } from '../../db/database.js';
import type { Row } from '../../db/types.js';
import type { PatternCreate } from '../../domain/pattern.js';
import { MAX_EVIDENCE_IDS, type Suggestion, type SuggestionQuery } from '../../domain/suggestions.js';
import { whereEpisodeMatches } from './episode-filter.js';
import { finiteOrNull } from './finite.js';
import { tenantScope } from './where.js';

// Mined suggestions (SPEC §3.3), read from what migration 6's triggers keep in the transaction of every
// write: without `since`, the running totals per (kind, domain, task type, candidate); with `since`, the
// per-episode candidates of the completed episodes started in the window (an index range on start time).
// Support counts episodes, not occurrences. The newest evidence ids of each returned candidate are an
// index range of its per-episode rows.

function suggestionSql(tenant: string, q: SuggestionQuery) {
  // Completed episodes, archived or not, through the one episode filter.
  const episodes = () =>
    whereEpisodeMatches(tenantScope(tenant, 'e'), {
      archived: 'any',
      tags_match: 'any',
      status: 'completed',
      domain: q.domain,
      task_type: q.task_type === undefined ? undefined : [q.task_type],
      started_after: q.since,
    });
  let candidates: { sql: string; args: (string | number)[]; support: string; successes: string };
  if (q.since === undefined) {
    const totals = tenantScope(tenant, 't').and('t.kind = ?', q.kind);
    if (q.domain !== undefined) totals.and('t.domain = ?', q.domain);
    if (q.task_type !== undefined) totals.and('t.task_type = ?', q.task_type);
    candidates = {
      sql: `SELECT t.domain, t.key, t.tools, SUM(t.support) AS support, SUM(t.successes) AS successes,
          SUM(t.occurrences) AS occurrences, ${finiteOrNull('SUM(t.latency)')} AS latency
        FROM suggestion_totals t WHERE ${totals} GROUP BY t.domain, t.key, t.tools`,
      args: totals.args as (string | number)[],
      support: 'SUM(t.support)',
      successes: 'SUM(t.successes)',
    };
  } else {
    const window = episodes();
    candidates = {
      sql: `SELECT g.domain, g.key, g.tools, COUNT(*) AS support, SUM(g.ok) AS successes,
          SUM(g.occurrences) AS occurrences, ${finiteOrNull('SUM(g.latency)')} AS latency
        FROM episodes e CROSS JOIN suggestion_grams g INDEXED BY suggestion_grams_by_episode ON g.tenant = e.tenant AND g.episode_id = e.id AND g.kind = ?
        WHERE ${window} GROUP BY g.domain, g.key, g.tools`,
      args: [q.kind, ...(window.args as (string | number)[])],
      support: 'COUNT(*)',
      successes: 'SUM(g.ok)',
    };
  }
  // Spelled as aggregates: in HAVING a bare name is a column of the table before it is an alias.
  const having =
    q.kind === 'error_recovery'
      ? `${candidates.support} >= ? AND ${candidates.successes} > 0`
      : `${candidates.support} >= ?`;
  // CROSS JOIN fixes the join order (SQLite keeps its left table outer): the window's episodes drive the
  // candidates (each episode's rows by its index, whatever the statistics say); a candidate's rows, newest
  // first, drive its evidence.
  const evidence = episodes()
    .and('g.kind = ?', q.kind)
    .and('g.domain = c.domain')
    .and('g.key = c.key')
    .and('g.tools = c.tools');
  const { support, successes } = candidates;
  const alias = q.since === undefined ? 't' : 'g';
  const sql = `WITH c AS (${candidates.sql} HAVING ${having}
      ORDER BY ${support} DESC, ${successes} DESC, ${alias}.domain, ${alias}.key, ${alias}.tools LIMIT ?)
    SELECT c.*, (
      SELECT json_group_array(episode_id) FROM (
        SELECT g.episode_id FROM suggestion_grams g
        CROSS JOIN episodes e ON e.tenant = g.tenant AND e.id = g.episode_id
        WHERE ${evidence} ORDER BY g.episode_id DESC LIMIT ?
      )
    ) AS evidence
    FROM c ORDER BY c.support DESC, c.successes DESC, c.domain, c.key, c.tools`;
  return {
    sql,
    args: [...candidates.args, q.min_support, q.limit, ...evidence.args, MAX_EVIDENCE_IDS],
  };
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
    // Any finite latency is stored, so the sum may pass float64's range (read as NULL: see `finiteOrNull`); the
    // mean of such latencies is then the largest finite number, which a pattern body still accepts.
    avg_latency_ms: row.latency === null ? Number.MAX_VALUE : Number(row.latency) / Number(row.occurrences),
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
