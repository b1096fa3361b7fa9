import type { Row, SqlValue, Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import type { StepRecord } from '../../domain/step.js';
import { iso, ms } from './episode-rows.js';
import { tenantScope } from './where.js';

// The one place a step row becomes a record, and a step becomes its row.

export const STEP_COLUMNS = 's.episode_id, s.step_number, s.timestamp, s.tool, s.body';
/** Rows per multi-row step INSERT: 8 arguments each, well inside SQLite's 32,766 variables. */
const STEP_ROWS_PER_INSERT = 100;

function stepBody(s: StepRecord) {
  return {
    action: s.action,
    parameters: s.parameters,
    result: s.result,
    latency_ms: s.latency_ms,
    tokens_used: s.tokens_used,
    metadata: s.metadata,
    location: s.location,
  };
}

/** The episode's agent, for the steps' `agent_id` column (the cross-episode list filters by it). */
function episodeAgent(tenant: string, episodeId: string): { sql: string; args: SqlValue[] } {
  const where = tenantScope(tenant).and('id = ?', episodeId);
  return { sql: `(SELECT agent_id FROM episodes WHERE ${where})`, args: where.args };
}

/**
 * Numbered steps, many rows per statement: one statement per step would cost a round of binding and
 * execution each, the largest part of an episode write. `agentId` is bound when the caller knows it
 * (a new episode); otherwise it is read from the episode.
 */
export function numberedStepInserts(
  tenant: string,
  episodeId: string,
  steps: readonly StepRecord[],
  agentId?: string | null,
): Statement[] {
  const agent = agentId === undefined ? episodeAgent(tenant, episodeId) : { sql: '?', args: [agentId] };
  const stmts: Statement[] = [];
  for (let i = 0; i < steps.length; i += STEP_ROWS_PER_INSERT) {
    const chunk = steps.slice(i, i + STEP_ROWS_PER_INSERT);
    stmts.push({
      sql: `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, agent_id, body)
            VALUES ${chunk.map(() => `(?, ?, ?, ?, ?, ?, ${agent.sql}, ?)`).join(', ')}`,
      args: chunk.flatMap((s) => [
        tenant,
        episodeId,
        s.step_number,
        ms(s.timestamp),
        s.tool,
        s.result?.type ?? null,
        ...agent.args,
        JSON.stringify(stepBody(s)),
      ]),
    });
  }
  return stmts;
}

/** The episode's highest step number (0 when it has none), as an SQL expression and its arguments. */
export function highestStepNumber(tenant: string, episodeId: string): { sql: string; args: SqlValue[] } {
  const where = tenantScope(tenant).and('episode_id = ?', episodeId);
  return { sql: `(SELECT COALESCE(MAX(step_number), 0) FROM steps WHERE ${where})`, args: where.args };
}

/** One step numbered in the transaction: the episode's next free number (its highest + 1). */
export function autoNumberedStepInsert(tenant: string, s: StepRecord): Statement {
  const highest = highestStepNumber(tenant, s.episode_id);
  const agent = episodeAgent(tenant, s.episode_id);
  return sql(
    `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, agent_id, body)
     VALUES (?, ?, ${highest.sql} + 1, ?, ?, ?, ${agent.sql}, ?)`,
    tenant,
    s.episode_id,
    ...highest.args,
    ms(s.timestamp),
    s.tool,
    s.result?.type ?? null,
    ...agent.args,
    JSON.stringify(stepBody(s)),
  );
}

/**
 * The records of the `count` steps just numbered in the transaction, as JSON text: they hold the episode's
 * top `count` numbers, in order, so the n-th record of `template` (the records without their numbers) gets
 * the n-th of them. The SQL fills them in; no JSON path is computed outside it.
 */
export function numberedStepsJson(
  tenant: string,
  episodeId: string,
  template: readonly StepRecord[],
): { sql: string; args: SqlValue[] } {
  const where = tenantScope(tenant).and('episode_id = ?', episodeId);
  // The aggregate reads an ordered subquery (SQLite never flattens one into an aggregate): sqld's SQL
  // parser rejects the `json_group_array(... ORDER BY ...)` form.
  return {
    sql: `(SELECT json_group_array(json(step)) FROM (
            SELECT json_set(t.value, '$.step_number', n.step_number) AS step
            FROM json_each(?) t JOIN (
              SELECT step_number, ROW_NUMBER() OVER (ORDER BY step_number) - 1 AS i
              FROM (SELECT step_number FROM steps WHERE ${where} ORDER BY step_number DESC LIMIT ?)
            ) n ON n.i = t.key
            ORDER BY t.key))`,
    args: [JSON.stringify(template), ...where.args, template.length],
  };
}

/** A step row as JSON text (the record's fields in order, the stored body spliced in unparsed). */
export function toEncodedStep(row: Row): string {
  const columns = JSON.stringify({
    episode_id: row.episode_id,
    step_number: Number(row.step_number),
    timestamp: iso(Number(row.timestamp)),
    tool: row.tool,
  });
  return `${columns.slice(0, -1)},${(row.body as string).slice(1)}`;
}
