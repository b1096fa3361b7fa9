import type { Row, SqlValue, Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import type { HeuristicRecord, PatternRecord } from '../../domain/pattern.js';
import type { EncodedRecord } from '../types.js';
import { iso, ms } from './episode-rows.js';
import { guard } from './statements.js';
import { tenantScope } from './where.js';

// The one place a pattern or heuristic row becomes a record, and a record becomes its rows.

export const PATTERN_COLUMNS =
  'p.id, p.tenant, p.kind, p.times_retrieved, p.times_applied, p.success_when_applied, p.failure_when_applied, p.avg_reward_delta, p.last_used, p.effectiveness, p.created_at, p.updated_at, p.version, p.body';

export const HEURISTIC_COLUMNS = 'h.id, h.tenant, h.created_at, h.updated_at, h.version, h.body';

/** The `effectiveness.score` of the counters after an application, in SQL over the row's old values. */
export const SCORE_AFTER_APPLICATION =
  '(success_when_applied + ? + 1.0) / (times_applied + 3.0) * (times_applied + 1.0) / (times_applied + 11.0)';

/** The fields of a pattern in its `body` column: everything but the columns (its tags included). */
function patternBody(r: PatternRecord): Record<string, unknown> {
  const { id, tenant, kind, effectiveness, created_at, updated_at, version, ...own } = r;
  return own;
}

/** The success rate a pattern is filtered and sorted by; a decision point's comes from its counts. */
export function successRateOf(r: PatternRecord): number | null {
  if (r.kind !== 'decision_point') return r.success_rate;
  const { success_count, total_count } = r.outcome_stats;
  return total_count === 0 ? null : success_count / total_count;
}

/** A row's JSON object: its columns, then the stored body spliced in unparsed. */
const spliced = (columns: Record<string, unknown>, body: string) =>
  `${JSON.stringify(columns).slice(0, -1)},${body.slice(1)}`;

export function toEncodedPattern(row: Row): EncodedRecord {
  const version = Number(row.version);
  const columns = {
    id: row.id,
    tenant: row.tenant,
    kind: row.kind,
    effectiveness: {
      times_retrieved: Number(row.times_retrieved),
      times_applied: Number(row.times_applied),
      success_when_applied: Number(row.success_when_applied),
      failure_when_applied: Number(row.failure_when_applied),
      avg_reward_delta: Number(row.avg_reward_delta),
      last_used: row.last_used === null ? null : iso(Number(row.last_used)),
      score: Number(row.effectiveness),
    },
    created_at: iso(Number(row.created_at)),
    updated_at: iso(Number(row.updated_at)),
    version,
  };
  return { id: row.id as string, version, json: spliced(columns, row.body as string) };
}

/** A REAL column as JSON number text that reads back as the same double (json_object keeps 15 digits; the ! flag makes printf exact). */
const realText = (column: string) => `printf('%!.17g', ${column})`;
/** An INTEGER ms column as the canonical timestamp text of `iso`. */
const isoText = (column: string) =>
  `strftime('%Y-%m-%dT%H:%M:%S', ${column} / 1000, 'unixepoch') || printf('.%03dZ', ${column} % 1000)`;

/**
 * The record of the pattern that `where` (over `patterns p`) selects, as JSON text built in SQL — the text
 * `toEncodedPattern` makes of its row — for a write whose answer the database computes (an application's
 * counters) and whose claim keeps it for replays. Numbers are spliced in as text: a JSON function would
 * round the REALs to 15 digits.
 */
export function patternRecordSql(where: string): string {
  const names = `json_object('id', p.id, 'tenant', p.tenant, 'kind', p.kind)`;
  const lastUsed = `CASE WHEN p.last_used IS NULL THEN 'null' ELSE '"' || ${isoText('p.last_used')} || '"' END`;
  return `SELECT substr(${names}, 1, length(${names}) - 1)
      || ',"effectiveness":{"times_retrieved":' || p.times_retrieved || ',"times_applied":' || p.times_applied
      || ',"success_when_applied":' || p.success_when_applied || ',"failure_when_applied":' || p.failure_when_applied
      || ',"avg_reward_delta":' || ${realText('p.avg_reward_delta')} || ',"last_used":' || ${lastUsed}
      || ',"score":' || ${realText('p.effectiveness')} || '},"created_at":"' || ${isoText('p.created_at')}
      || '","updated_at":"' || ${isoText('p.updated_at')} || '","version":' || p.version || ',' || substr(p.body, 2)
    FROM patterns p WHERE ${where}`;
}

export function toEncodedHeuristic(row: Row): EncodedRecord {
  const version = Number(row.version);
  const columns = {
    id: row.id,
    tenant: row.tenant,
    created_at: iso(Number(row.created_at)),
    updated_at: iso(Number(row.updated_at)),
    version,
  };
  return { id: row.id as string, version, json: spliced(columns, row.body as string) };
}

export function patternInsert(tenant: string, r: PatternRecord, bodyHash: string): Statement {
  return sql(
    `INSERT INTO patterns (tenant, id, kind, domain, language, success_rate, created_at, updated_at, version, body, body_hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    tenant,
    r.id,
    r.kind,
    r.context?.domain ?? null,
    r.context?.language ?? null,
    successRateOf(r),
    ms(r.created_at),
    ms(r.updated_at),
    r.version,
    JSON.stringify(patternBody(r)),
    bodyHash,
  );
}

/** Rewrites the pattern's own fields; its counters are left as the row has them. */
export function patternUpdate(tenant: string, r: PatternRecord): Statement {
  const where = tenantScope(tenant).and('id = ?', r.id);
  return sql(
    `UPDATE patterns SET domain = ?, language = ?, success_rate = ?, updated_at = ?, version = ?, body = ? WHERE ${where}`,
    r.context?.domain ?? null,
    r.context?.language ?? null,
    successRateOf(r),
    ms(r.updated_at),
    r.version,
    JSON.stringify(patternBody(r)),
    ...where.args,
  );
}

export const patternTagInserts = (tenant: string, r: PatternRecord): Statement[] =>
  r.tags.map((tag) =>
    sql('INSERT INTO pattern_tags (tenant, pattern_id, tag) VALUES (?, ?, ?)', tenant, r.id, tag),
  );

export function patternTagsDelete(tenant: string, id: string): Statement {
  const where = tenantScope(tenant).and('pattern_id = ?', id);
  return sql(`DELETE FROM pattern_tags WHERE ${where}`, ...where.args);
}

function heuristicBody(r: HeuristicRecord): Record<string, unknown> {
  const { id, tenant, created_at, updated_at, version, ...own } = r;
  return own;
}

export function heuristicInsert(tenant: string, r: HeuristicRecord, bodyHash: string): Statement {
  return sql(
    `INSERT INTO heuristics (tenant, id, confidence, created_at, updated_at, version, body, body_hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    tenant,
    r.id,
    r.confidence,
    ms(r.created_at),
    ms(r.updated_at),
    r.version,
    JSON.stringify(heuristicBody(r)),
    bodyHash,
  );
}

export function heuristicUpdate(tenant: string, r: HeuristicRecord): Statement {
  const where = tenantScope(tenant).and('id = ?', r.id);
  return sql(
    `UPDATE heuristics SET confidence = ?, updated_at = ?, version = ?, body = ? WHERE ${where}`,
    r.confidence,
    ms(r.updated_at),
    r.version,
    JSON.stringify(heuristicBody(r)),
    ...where.args,
  );
}

/** Guards of writes to an existing pattern or heuristic. */
export type RecordGuard = 'NOT_FOUND' | 'VERSION_MISMATCH';

/**
 * The guards a write to record `id` of `table` starts with (after its claim): it exists, and — when
 * `expectedVersion` is given — is still at that version.
 */
export function recordGuards(
  table: 'patterns' | 'heuristics',
  tenant: string,
  id: string,
  expectedVersion?: number,
): Statement[] {
  const scope = tenantScope(tenant).and('id = ?', id);
  const on = (code: RecordGuard, condition: string, ...extra: SqlValue[]) =>
    guard<RecordGuard>({ code, subject: id }, condition, ...scope.args, ...extra);
  return [
    on('NOT_FOUND', `EXISTS (SELECT 1 FROM ${table} WHERE ${scope})`),
    ...(expectedVersion === undefined
      ? []
      : [on('VERSION_MISMATCH', `(SELECT version FROM ${table} WHERE ${scope}) = ?`, expectedVersion)]),
  ];
}

export function recordDelete(table: 'patterns' | 'heuristics', tenant: string, id: string): Statement {
  const where = tenantScope(tenant).and('id = ?', id);
  return sql(`DELETE FROM ${table} WHERE ${where}`, ...where.args);
}
