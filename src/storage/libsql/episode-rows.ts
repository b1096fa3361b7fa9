import type { Row, SqlValue, Statement } from '../../db/types.js';
import { sql } from '../../db/types.js';
import type { EpisodeRecord } from '../../domain/episode.js';
import type { EncodedRecord } from '../types.js';
import { guard } from './statements.js';
import { tenantScope } from './where.js';

// The one place an episode row becomes a record, and a record becomes its rows (episode, tags, full text).

const DAY_MS = 86_400_000;
let cachedDay = Number.NaN;
let cachedDate = '';
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/**
 * `new Date(ms).toISOString()`, ≈ 10× cheaper: it formats only the time of day and keeps the date of the
 * last day it saw (rows of one page mostly share it). A list page formats thousands of timestamps, and
 * Date#toISOString costs microseconds each.
 */
export function iso(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDate = new Date(day * DAY_MS).toISOString().slice(0, -13); // "YYYY-MM-DDT"
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${cachedDate}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`;
}

export const ms = (timestamp: string) => Date.parse(timestamp);

export const EPISODE_COLUMNS =
  'e.id, e.tenant, e.agent_id, e.session_id, e.task_type, e.start_time, e.end_time, e.archived, e.step_count, e.created_at, e.updated_at, e.version, e.body';

/** The fields of an episode that live in its JSON `body` column (everything that is not a column). */
function episodeBody(r: EpisodeRecord) {
  return {
    task_description: r.task_description,
    context: r.context,
    tags: r.tags,
    outcome: r.outcome,
    reward: r.reward,
    reflection: r.reflection,
    patterns: r.patterns,
    heuristics: r.heuristics,
    applied_patterns: r.applied_patterns,
    salient_features: r.salient_features,
    metadata: r.metadata,
    location: r.location,
  };
}

/** A nullable text column as JSON. */
const jsonText = (value: unknown): string =>
  value === null || value === undefined ? 'null' : JSON.stringify(value);

/**
 * An episode row as JSON text: the columns, then the stored body (the JSON of `episodeBody`, written by
 * this module) spliced in without being parsed. Written out rather than `JSON.stringify` of an object of the
 * columns: a third cheaper, and a page of 50 episodes encodes them on the event loop.
 */
export function toEncodedEpisode(row: Row): EncodedRecord {
  const endTime = row.end_time === null ? null : iso(Number(row.end_time));
  const version = Number(row.version);
  const json =
    `{"id":${jsonText(row.id)},"tenant":${jsonText(row.tenant)},"agent_id":${jsonText(row.agent_id)}` +
    `,"session_id":${jsonText(row.session_id)},"task_type":${jsonText(row.task_type)}` +
    `,"start_time":"${iso(Number(row.start_time))}","end_time":${endTime === null ? 'null' : `"${endTime}"`}` +
    `,"status":"${endTime === null ? 'in_progress' : 'completed'}","archived":${Number(row.archived) === 1}` +
    `,"step_count":${Number(row.step_count)},"created_at":"${iso(Number(row.created_at))}"` +
    `,"updated_at":"${iso(Number(row.updated_at))}","version":${version},${(row.body as string).slice(1)}`;
  return { id: row.id as string, version, json };
}

/** Adds `steps` (as JSON text) to an encoded episode, whose JSON ends with the closing brace of the object. */
export function withStepsJson(episode: EncodedRecord, stepsJson: string): EncodedRecord {
  return { ...episode, json: `${episode.json.slice(0, -1)},"steps":${stepsJson}}` };
}

/** Full-text document of an episode: description, verdict or reason, reflection (SPEC §3.1 `q`). */
function searchText(r: EpisodeRecord): string {
  const o = r.outcome;
  const outcomeText = !o
    ? []
    : 'verdict' in o
      ? [o.verdict]
      : [o.reason, 'error_details' in o ? o.error_details : ''];
  const reflection = r.reflection
    ? [...r.reflection.successes, ...r.reflection.improvements, ...r.reflection.insights]
    : [];
  return [r.task_description, ...outcomeText, ...reflection].filter(Boolean).join('\n');
}

/** `q` → an FTS5 query of quoted terms (all must match): user text never reaches FTS5 syntax. */
export function ftsQuery(q: string): string | null {
  const terms = q.split(/\s+/).filter(Boolean);
  return terms.length === 0 ? null : terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(' ');
}

/** The episode's row (a new one). Labelled by the caller: its unique key is the episode id. */
export function episodeInsert(tenant: string, r: EpisodeRecord, bodyHash: string): Statement {
  return sql(
    `INSERT INTO episodes (tenant, id, agent_id, session_id, task_type, domain, language, complexity, start_time,
       end_time, outcome_type, reward_total, archived, step_count, created_at, updated_at, version, body, body_hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    tenant,
    r.id,
    r.agent_id,
    r.session_id,
    r.task_type,
    r.context.domain,
    r.context.language ?? null,
    r.context.complexity,
    ms(r.start_time),
    r.end_time === null ? null : ms(r.end_time),
    r.outcome?.type ?? null,
    r.reward?.total ?? null,
    r.archived ? 1 : 0,
    r.step_count,
    ms(r.created_at),
    ms(r.updated_at),
    r.version,
    JSON.stringify(episodeBody(r)),
    bodyHash,
  );
}

/** Rewrites the episode's row with the changed record (its step count is left as the row has it). */
export function episodeUpdate(tenant: string, r: EpisodeRecord): Statement {
  const where = tenantScope(tenant).and('id = ?', r.id);
  return sql(
    `UPDATE episodes SET domain = ?, language = ?, complexity = ?, end_time = ?, outcome_type = ?, reward_total = ?,
       archived = ?, updated_at = ?, version = ?, body = ?
     WHERE ${where}`,
    r.context.domain,
    r.context.language ?? null,
    r.context.complexity,
    r.end_time === null ? null : ms(r.end_time),
    r.outcome?.type ?? null,
    r.reward?.total ?? null,
    r.archived ? 1 : 0,
    ms(r.updated_at),
    r.version,
    JSON.stringify(episodeBody(r)),
    ...where.args,
  );
}

export function tagInserts(tenant: string, r: EpisodeRecord): Statement[] {
  return r.tags.map((tag) =>
    sql('INSERT INTO episode_tags (tenant, episode_id, tag) VALUES (?, ?, ?)', tenant, r.id, tag),
  );
}

export function tagsDelete(tenant: string, episodeId: string): Statement {
  const where = tenantScope(tenant).and('episode_id = ?', episodeId);
  return sql(`DELETE FROM episode_tags WHERE ${where}`, ...where.args);
}

/** The episode's full-text row, keyed by the episode's rowid. */
export function ftsInsert(tenant: string, r: EpisodeRecord): Statement {
  const where = tenantScope(tenant).and('id = ?', r.id);
  return sql(
    `INSERT INTO episodes_fts (rowid, text) VALUES ((SELECT rowid FROM episodes WHERE ${where}), ?)`,
    ...where.args,
    searchText(r),
  );
}

export function ftsDelete(tenant: string, episodeId: string): Statement {
  const where = tenantScope(tenant).and('id = ?', episodeId);
  return sql(
    `DELETE FROM episodes_fts WHERE rowid = (SELECT rowid FROM episodes WHERE ${where})`,
    ...where.args,
  );
}

/** Guards on one episode's row, used by every write to an existing episode. */
export type EpisodeGuard =
  | 'EPISODE_NOT_FOUND'
  | 'VERSION_MISMATCH'
  | 'EPISODE_ALREADY_COMPLETED'
  | 'EPISODE_COMPLETED'
  | 'STEP_LIMIT_EXCEEDED';

/** A guard about episode `id`: `condition` reads its row through `(SELECT … FROM episodes WHERE <scope>)`. */
export function episodeGuard(
  code: EpisodeGuard,
  tenant: string,
  id: string,
  condition: (scope: string) => string,
  ...extra: SqlValue[]
): Statement {
  const scope = tenantScope(tenant).and('id = ?', id);
  return guard<EpisodeGuard>({ code, subject: id }, condition(`${scope}`), ...scope.args, ...extra);
}

/** The guard every write to an existing episode starts with (after its claim). */
export const episodeExists = (tenant: string, id: string): Statement =>
  episodeGuard('EPISODE_NOT_FOUND', tenant, id, (scope) => `EXISTS (SELECT 1 FROM episodes WHERE ${scope})`);
