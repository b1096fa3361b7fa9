import type { Database } from '../../db/database.js';
import { DbError } from '../../db/errors.js';
import { type Row, type SqlValue, type Statement, sql } from '../../db/types.js';
import { normaliseTags } from '../../domain/common.js';
import { type EpisodeListQuery, type EpisodeRecord, metadataFilters } from '../../domain/episode.js';
import {
  EmbeddingDimensionMismatch,
  EpisodeAlreadyCompleted,
  EpisodeCompleted,
  EpisodeNotFound,
  PreconditionFailed,
  StepLimitExceeded,
  StepNumberConflict,
} from '../../domain/errors.js';
import { MAX_STEPS_PER_EPISODE } from '../../domain/limits.js';
import type { GlobalStepListQuery, StepRecord } from '../../domain/step.js';
import {
  type DeletionReport,
  type EncodedEpisode,
  type EpisodeChange,
  EpisodeIdTaken,
  type EpisodeRepository,
  IdempotencyKeyTaken,
  type IdempotentResponse,
  type IdempotentStepResponse,
  type NewEpisode,
  type Page,
  type StepAppend,
} from '../episode-repository.js';
import { decodeCursor, pageOf } from './cursor.js';
import { IDEMPOTENCY_TTL_MS } from './idempotency-repository.js';

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (timestamp: string) => Date.parse(timestamp);
const assert = (condition: string, code: string, ...args: SqlValue[]): Statement =>
  sql(`INSERT INTO engram_assert (ok, code) VALUES ((${condition}), '${code}')`, ...args);

const EPISODE_COLUMNS =
  'e.id, e.tenant, e.agent_id, e.session_id, e.task_type, e.start_time, e.end_time, e.archived, e.step_count, e.created_at, e.updated_at, e.version, e.body';
const STEP_COLUMNS = 's.episode_id, s.step_number, s.timestamp, s.tool, s.body';
/** Rows per multi-row step INSERT: 8 arguments each, well inside SQLite's 32,766 variables. */
const STEP_ROWS_PER_INSERT = 100;
/** R*Tree time axis: seconds; an episode still in progress extends to "the end of time". */
const OPEN_END_S = 1e12;

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

/**
 * The one place an episode row becomes a record — as JSON text: the columns, then the stored body (the
 * JSON of `episodeBody`, written by this module) spliced in without being parsed.
 */
function toEncodedEpisode(row: Row): EncodedEpisode {
  const endTime = row.end_time === null ? null : iso(Number(row.end_time));
  const version = Number(row.version);
  const columns = JSON.stringify({
    id: row.id,
    tenant: row.tenant,
    agent_id: row.agent_id ?? null,
    session_id: row.session_id ?? null,
    task_type: row.task_type,
    start_time: iso(Number(row.start_time)),
    end_time: endTime,
    status: endTime === null ? 'in_progress' : 'completed',
    archived: Number(row.archived) === 1,
    step_count: Number(row.step_count),
    created_at: iso(Number(row.created_at)),
    updated_at: iso(Number(row.updated_at)),
    version,
  });
  const body = row.body as string;
  return { id: row.id as string, version, json: `${columns.slice(0, -1)},${body.slice(1)}` };
}

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

/** The one place a step row becomes a record. */
function toStep(row: Row): StepRecord {
  const body = JSON.parse(row.body as string) as ReturnType<typeof stepBody>;
  return {
    episode_id: row.episode_id as string,
    step_number: Number(row.step_number),
    timestamp: iso(Number(row.timestamp)),
    tool: row.tool as string,
    ...body,
  };
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
function ftsQuery(q: string): string | null {
  const terms = q.split(/\s+/).filter(Boolean);
  return terms.length === 0 ? null : terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(' ');
}

function vectorBlob(vector: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(vector).buffer);
}

/** Remembers the response; an expired key with the same name is replaced, a live one makes the write fail. */
function idempotencyInserts(
  tenant: string,
  r: IdempotentResponse,
  bodySql = '?',
  bodyArgs?: SqlValue[],
): Statement[] {
  const now = Date.now();
  return [
    sql(
      'DELETE FROM idempotency_keys WHERE tenant = ? AND key = ? AND created_at <= ?',
      tenant,
      r.key,
      now - IDEMPOTENCY_TTL_MS,
    ),
    {
      sql: `INSERT INTO idempotency_keys (tenant, key, fingerprint, status, headers, body, created_at)
            VALUES (?, ?, ?, ?, ?, ${bodySql}, ?)`,
      args: [
        tenant,
        r.key,
        r.fingerprint,
        r.status,
        JSON.stringify(r.headers),
        ...(bodyArgs ?? [JSON.stringify(r.body)]),
        now,
      ],
    },
  ];
}

/** Maps a failed write to the domain error it means; anything unexpected stays a DbError. */
async function rethrowAsDomainError(
  err: unknown,
  context: { episodeId?: string; currentVersion?: () => Promise<number | undefined>; model?: string },
): Promise<never> {
  if (!(err instanceof DbError)) throw err;
  const id = context.episodeId ?? '';
  if (err.kind === 'precondition') {
    switch (err.detail) {
      case 'EPISODE_NOT_FOUND':
        throw new EpisodeNotFound(id);
      case 'VERSION_MISMATCH':
        throw new PreconditionFailed(String((await context.currentVersion?.()) ?? ''));
      case 'EPISODE_ALREADY_COMPLETED':
        throw new EpisodeAlreadyCompleted(id);
      case 'EPISODE_COMPLETED':
        throw new EpisodeCompleted(id);
      case 'STEP_LIMIT_EXCEEDED':
        throw new StepLimitExceeded(id, MAX_STEPS_PER_EPISODE);
      case 'EMBEDDING_DIMENSION_MISMATCH':
        throw new EmbeddingDimensionMismatch(context.model ?? '');
    }
  }
  if (err.kind === 'constraint') {
    const detail = err.detail ?? '';
    if (detail.includes('idempotency_keys.')) throw new IdempotencyKeyTaken();
    if (detail.includes('steps.tenant, steps.episode_id, steps.step_number'))
      throw new StepNumberConflict(id);
    if (detail.includes('FOREIGN KEY')) throw new EpisodeNotFound(id);
  }
  throw err;
}

export class LibsqlEpisodeRepository implements EpisodeRepository {
  constructor(private readonly db: Database) {}

  async create(tenant: string, episodes: NewEpisode[], idempotent?: IdempotentResponse): Promise<void> {
    const stmts = episodes.flatMap((e) => this.insertEpisode(tenant, e));
    if (idempotent) stmts.push(...idempotencyInserts(tenant, idempotent));
    try {
      await this.db.write(stmts);
    } catch (err) {
      if (
        err instanceof DbError &&
        err.kind === 'constraint' &&
        err.detail?.includes('episodes.tenant, episodes.id')
      ) {
        throw new EpisodeIdTaken(await this.firstExisting(tenant, episodes));
      }
      return rethrowAsDomainError(err, { model: episodes.find((e) => e.embedding)?.embedding?.model });
    }
  }

  async get(tenant: string, id: string): Promise<EncodedEpisode | null> {
    const rows = await this.db.read(
      `SELECT ${EPISODE_COLUMNS} FROM episodes e WHERE e.tenant = ? AND e.id = ?`,
      [tenant, id],
    );
    return rows[0] ? toEncodedEpisode(rows[0]) : null;
  }

  async bodyHash(tenant: string, id: string): Promise<string | null> {
    const rows = await this.db.read('SELECT body_hash FROM episodes WHERE tenant = ? AND id = ?', [
      tenant,
      id,
    ]);
    return (rows[0]?.body_hash as string | undefined) ?? null;
  }

  async list(tenant: string, q: EpisodeListQuery): Promise<Page<EncodedEpisode>> {
    const where: string[] = ['e.tenant = ?'];
    const args: SqlValue[] = [tenant];
    const add = (clause: string, ...values: SqlValue[]) => {
      where.push(clause);
      args.push(...values);
    };
    const inList = (column: string, values: readonly string[]) =>
      add(`${column} IN (${values.map(() => '?').join(', ')})`, ...values);

    if (q.archived !== 'any') add('e.archived = ?', q.archived === 'true' ? 1 : 0);
    if (q.task_type?.length) inList('e.task_type', q.task_type);
    if (q.domain !== undefined) add('e.domain = ?', q.domain);
    if (q.language !== undefined) add('e.language = ?', q.language);
    if (q.agent_id !== undefined) add('e.agent_id = ?', q.agent_id);
    if (q.session_id !== undefined) add('e.session_id = ?', q.session_id);
    if (q.status) add(q.status === 'completed' ? 'e.end_time IS NOT NULL' : 'e.end_time IS NULL');
    if (q.outcome?.length) inList('e.outcome_type', q.outcome);
    if (q.min_reward !== undefined) add('e.reward_total >= ?', q.min_reward);
    if (q.max_reward !== undefined) add('e.reward_total <= ?', q.max_reward);
    if (q.started_after !== undefined) add('e.start_time >= ?', ms(q.started_after));
    if (q.started_before !== undefined) add('e.start_time < ?', ms(q.started_before));
    const tags = normaliseTags(q.tag ?? []);
    if (tags.length > 0) {
      const tagged =
        'SELECT 1 FROM episode_tags t WHERE t.tenant = e.tenant AND t.episode_id = e.id AND t.tag';
      if (q.tags_match === 'all') for (const tag of tags) add(`EXISTS (${tagged} = ?)`, tag);
      else add(`EXISTS (${tagged} IN (${tags.map(() => '?').join(', ')}))`, ...tags);
    }
    for (const [key, value] of Object.entries(metadataFilters(q))) {
      add(
        `EXISTS (SELECT 1 FROM json_each(e.body, '$.metadata') m WHERE m.key = ? AND m.value = ?)`,
        key,
        value,
      );
    }
    const match = q.q === undefined ? null : ftsQuery(q.q);
    if (match) add('e.rowid IN (SELECT rowid FROM episodes_fts WHERE episodes_fts MATCH ?)', match);

    const sort = q.sort;
    const order =
      sort === 'start_time_asc'
        ? 'e.start_time ASC, e.id ASC'
        : sort === 'reward_desc'
          ? 'e.reward_total DESC NULLS LAST, e.id DESC'
          : 'e.start_time DESC, e.id DESC';
    if (q.cursor !== undefined) {
      const [key, id] = decodeCursor(q.cursor, sort) as [number | null, string];
      if (sort === 'start_time_asc') add('(e.start_time, e.id) > (?, ?)', key, id);
      else if (sort === 'start_time_desc') add('(e.start_time, e.id) < (?, ?)', key, id);
      else if (key === null) add('e.reward_total IS NULL AND e.id < ?', id);
      else
        add(
          '(e.reward_total < ? OR (e.reward_total = ? AND e.id < ?) OR e.reward_total IS NULL)',
          key,
          key,
          id,
        );
    }
    const rows = await this.db.read(
      `SELECT ${EPISODE_COLUMNS}, e.reward_total FROM episodes e WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ?`,
      [...args, q.limit + 1],
    );
    return pageOf(rows, q.limit, toEncodedEpisode, sort, (last) => [
      sort === 'reward_desc' ? (last.reward_total as number | null) : Number(last.start_time),
      last.id as string,
    ]);
  }

  async update(tenant: string, change: EpisodeChange, idempotent?: IdempotentResponse): Promise<void> {
    const r = change.record;
    const stmts: Statement[] = [
      assert(
        'EXISTS (SELECT 1 FROM episodes WHERE tenant = ? AND id = ?)',
        'EPISODE_NOT_FOUND',
        tenant,
        r.id,
      ),
      assert(
        '(SELECT version FROM episodes WHERE tenant = ? AND id = ?) = ?',
        'VERSION_MISMATCH',
        tenant,
        r.id,
        change.expectedVersion,
      ),
    ];
    if (change.mustBeInProgress) {
      stmts.push(
        assert(
          '(SELECT end_time FROM episodes WHERE tenant = ? AND id = ?) IS NULL',
          'EPISODE_ALREADY_COMPLETED',
          tenant,
          r.id,
        ),
      );
    }
    stmts.push(
      sql(
        `UPDATE episodes SET domain = ?, language = ?, complexity = ?, end_time = ?, outcome_type = ?, reward_total = ?,
           archived = ?, updated_at = ?, version = ?, body = ?
         WHERE tenant = ? AND id = ?`,
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
        tenant,
        r.id,
      ),
      sql('DELETE FROM episode_tags WHERE tenant = ? AND episode_id = ?', tenant, r.id),
      ...this.tagInserts(tenant, r),
      sql(
        'DELETE FROM episodes_fts WHERE rowid = (SELECT rowid FROM episodes WHERE tenant = ? AND id = ?)',
        tenant,
        r.id,
      ),
      this.ftsInsert(tenant, r),
      sql(
        'DELETE FROM spatiotemporal_entries WHERE tenant = ? AND episode_id = ? AND step_number = 0',
        tenant,
        r.id,
      ),
      ...this.locationInserts(tenant, r.id, 0, r.location, ms(r.start_time), r.end_time),
    );
    if (idempotent) stmts.push(...idempotencyInserts(tenant, idempotent));
    try {
      await this.db.write(stmts);
    } catch (err) {
      return rethrowAsDomainError(err, {
        episodeId: r.id,
        currentVersion: () => this.currentVersion(tenant, r.id),
      });
    }
  }

  async delete(tenant: string, id: string, expectedVersion?: number): Promise<DeletionReport> {
    const count = (from: string, extra = '') =>
      sql(`SELECT COUNT(*) AS n FROM ${from} WHERE tenant = ? AND ${extra}`, tenant, id);
    const stmts: Statement[] = [
      assert('EXISTS (SELECT 1 FROM episodes WHERE tenant = ? AND id = ?)', 'EPISODE_NOT_FOUND', tenant, id),
    ];
    if (expectedVersion !== undefined) {
      stmts.push(
        assert(
          '(SELECT version FROM episodes WHERE tenant = ? AND id = ?) = ?',
          'VERSION_MISMATCH',
          tenant,
          id,
          expectedVersion,
        ),
      );
    }
    stmts.push(
      count('steps', 'episode_id = ?'),
      count('episode_tags', 'episode_id = ?'),
      count('embeddings', "item_type = 'episode' AND item_id = ?"),
      count('spatiotemporal_entries', 'episode_id = ?'),
      sql('DELETE FROM episodes WHERE tenant = ? AND id = ?', tenant, id),
    );
    try {
      const results = await this.db.write(stmts);
      const n = (i: number) => Number(results[stmts.length - 5 + i]?.rows[0]?.n ?? 0);
      return { episodes: 1, steps: n(0), tags: n(1), embeddings: n(2), spatiotemporal_entries: n(3) };
    } catch (err) {
      return rethrowAsDomainError(err, {
        episodeId: id,
        currentVersion: () => this.currentVersion(tenant, id),
      });
    }
  }

  async appendSteps(
    tenant: string,
    episodeId: string,
    append: StepAppend,
    idempotent?: IdempotentStepResponse,
  ): Promise<StepRecord[]> {
    const { steps } = append;
    const episode = 'FROM episodes WHERE tenant = ? AND id = ?';
    const stmts: Statement[] = [
      assert(`EXISTS (SELECT 1 ${episode})`, 'EPISODE_NOT_FOUND', tenant, episodeId),
      assert(
        `(SELECT step_count ${episode}) + ? <= ?`,
        'STEP_LIMIT_EXCEEDED',
        tenant,
        episodeId,
        steps.length,
        MAX_STEPS_PER_EPISODE,
      ),
    ];
    if (append.strict)
      stmts.push(assert(`(SELECT end_time ${episode}) IS NULL`, 'EPISODE_COMPLETED', tenant, episodeId));
    const nextNumber =
      '(SELECT COALESCE(MAX(step_number), 0) FROM steps WHERE tenant = ? AND episode_id = ?)';
    if (idempotent) {
      // Numbers are known only in the transaction: the remembered body gets them from the same next-number rule.
      const paths = idempotent.stepNumberPaths;
      const bodySql =
        paths.length === 0
          ? '?'
          : `json_set(?, ${paths.map((_, i) => `?, ${nextNumber} + ${i + 1}`).join(', ')})`;
      const bodyArgs: SqlValue[] = [
        JSON.stringify(idempotent.body),
        ...paths.flatMap((p) => [p, tenant, episodeId]),
      ];
      stmts.push(...idempotencyInserts(tenant, idempotent, bodySql, bodyArgs));
    }
    const firstInsert = stmts.length;
    for (const s of steps) stmts.push(this.stepInsert(tenant, s, append.autoNumber));
    stmts.push(
      sql(
        'UPDATE episodes SET step_count = step_count + ?, updated_at = ?, version = version + 1 WHERE tenant = ? AND id = ?',
        steps.length,
        Date.now(),
        tenant,
        episodeId,
      ),
    );
    for (const s of steps) {
      if (!s.location) continue;
      const number = append.autoNumber ? null : s.step_number;
      stmts.push(
        ...this.locationInserts(tenant, episodeId, number, s.location, ms(s.timestamp), s.timestamp),
      );
    }
    try {
      const results = await this.db.write(stmts);
      if (!append.autoNumber) return steps;
      return steps.map((s, i) => ({
        ...s,
        step_number: Number(results[firstInsert + i]?.rows[0]?.step_number),
      }));
    } catch (err) {
      return rethrowAsDomainError(err, { episodeId });
    }
  }

  async getStep(tenant: string, episodeId: string, stepNumber: number): Promise<StepRecord | null> {
    const rows = await this.db.read(
      `SELECT ${STEP_COLUMNS} FROM steps s WHERE s.tenant = ? AND s.episode_id = ? AND s.step_number = ?`,
      [tenant, episodeId, stepNumber],
    );
    return rows[0] ? toStep(rows[0]) : null;
  }

  async listSteps(
    tenant: string,
    episodeId: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<StepRecord>> {
    const after = cursor === undefined ? 0 : Number(decodeCursor(cursor, 'step_number')[0]);
    const rows = await this.db.read(
      `SELECT ${STEP_COLUMNS} FROM steps s WHERE s.tenant = ? AND s.episode_id = ? AND s.step_number > ?
       ORDER BY s.step_number LIMIT ?`,
      [tenant, episodeId, after, limit + 1],
    );
    return pageOf(rows, limit, toStep, 'step_number', (last) => [Number(last.step_number)]);
  }

  async listAllSteps(tenant: string, q: GlobalStepListQuery): Promise<Page<StepRecord>> {
    const where = ['s.tenant = ?'];
    const args: SqlValue[] = [tenant];
    const add = (clause: string, ...values: SqlValue[]) => {
      where.push(clause);
      args.push(...values);
    };
    if (q.tool !== undefined) add('s.tool = ?', q.tool);
    if (q.result !== undefined) add('s.result_type = ?', q.result);
    if (q.episode_id !== undefined) add('s.episode_id = ?', q.episode_id);
    if (q.agent_id !== undefined) add('s.agent_id = ?', q.agent_id);
    if (q.since !== undefined) add('s.timestamp >= ?', ms(q.since));
    if (q.until !== undefined) add('s.timestamp < ?', ms(q.until));
    if (q.cursor !== undefined) {
      const [time, episodeId, number] = decodeCursor(q.cursor, 'steps_newest') as [number, string, number];
      add('(s.timestamp, s.episode_id, s.step_number) < (?, ?, ?)', time, episodeId, number);
    }
    const rows = await this.db.read(
      `SELECT ${STEP_COLUMNS} FROM steps s WHERE ${where.join(' AND ')}
       ORDER BY s.timestamp DESC, s.episode_id DESC, s.step_number DESC LIMIT ?`,
      [...args, q.limit + 1],
    );
    return pageOf(rows, q.limit, toStep, 'steps_newest', (last) => [
      Number(last.timestamp),
      last.episode_id as string,
      Number(last.step_number),
    ]);
  }

  async stepsOf(tenant: string, episodeIds: string[]): Promise<Map<string, StepRecord[]>> {
    const byEpisode = new Map<string, StepRecord[]>(episodeIds.map((id) => [id, []]));
    if (episodeIds.length === 0) return byEpisode;
    const rows = await this.db.read(
      `SELECT ${STEP_COLUMNS} FROM steps s WHERE s.tenant = ? AND s.episode_id IN (${episodeIds.map(() => '?').join(', ')})
       ORDER BY s.episode_id, s.step_number`,
      [tenant, ...episodeIds],
    );
    for (const row of rows) byEpisode.get(row.episode_id as string)?.push(toStep(row));
    return byEpisode;
  }

  private insertEpisode(tenant: string, e: NewEpisode): Statement[] {
    const r = e.record;
    const stmts: Statement[] = [
      sql(
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
        e.bodyHash,
      ),
      ...this.tagInserts(tenant, r),
      this.ftsInsert(tenant, r),
      ...this.locationInserts(tenant, r.id, 0, r.location, ms(r.start_time), r.end_time),
    ];
    stmts.push(...this.stepsInserts(tenant, e.steps, r.agent_id));
    for (const s of e.steps) {
      if (s.location)
        stmts.push(
          ...this.locationInserts(tenant, r.id, s.step_number, s.location, ms(s.timestamp), s.timestamp),
        );
    }
    if (e.embedding) {
      const { model, vector } = e.embedding;
      const now = ms(r.created_at);
      stmts.push(
        sql(
          `INSERT INTO embedding_models (tenant, name, dimension, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (tenant, name) DO NOTHING`,
          tenant,
          model,
          vector.length,
          now,
        ),
        assert(
          '(SELECT dimension FROM embedding_models WHERE tenant = ? AND name = ?) = ?',
          'EMBEDDING_DIMENSION_MISMATCH',
          tenant,
          model,
          vector.length,
        ),
        sql(
          `INSERT INTO embeddings (tenant, item_type, item_id, model, vector, created_at, updated_at)
           VALUES (?, 'episode', ?, ?, ?, ?, ?)`,
          tenant,
          r.id,
          model,
          vectorBlob(vector),
          now,
          now,
        ),
      );
    }
    return stmts;
  }

  private tagInserts(tenant: string, r: EpisodeRecord): Statement[] {
    return r.tags.map((tag) =>
      sql('INSERT INTO episode_tags (tenant, episode_id, tag) VALUES (?, ?, ?)', tenant, r.id, tag),
    );
  }

  private ftsInsert(tenant: string, r: EpisodeRecord): Statement {
    return sql(
      'INSERT INTO episodes_fts (rowid, text) VALUES ((SELECT rowid FROM episodes WHERE tenant = ? AND id = ?), ?)',
      tenant,
      r.id,
      searchText(r),
    );
  }

  /** A located episode (step number 0) or step in the R*Tree; `stepNumber` null = the step just auto-numbered. */
  private locationInserts(
    tenant: string,
    episodeId: string,
    stepNumber: number | null,
    location: EpisodeRecord['location'],
    startMs: number,
    end: string | null,
  ): Statement[] {
    if (!location) return [];
    const number =
      stepNumber === null ? '(SELECT MAX(step_number) FROM steps WHERE tenant = ? AND episode_id = ?)' : '?';
    const numberArgs: SqlValue[] = stepNumber === null ? [tenant, episodeId] : [stepNumber];
    const endS = end === null ? OPEN_END_S : ms(end) / 1000;
    return [
      {
        sql: `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon) VALUES (?, ?, ${number}, ?, ?)`,
        args: [tenant, episodeId, ...numberArgs, location.lat, location.lon],
      },
      sql(
        `INSERT INTO spatiotemporal_index (id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)
         VALUES (last_insert_rowid(), ?, ?, ?, ?, ?, ?)`,
        location.lat,
        location.lat,
        location.lon,
        location.lon,
        startMs / 1000,
        endS,
      ),
    ];
  }

  /** One appended step: its number is the next free one when `autoNumber`, read back with RETURNING. */
  private stepInsert(tenant: string, s: StepRecord, autoNumber: boolean): Statement {
    const number = autoNumber
      ? '(SELECT COALESCE(MAX(step_number), 0) + 1 FROM steps WHERE tenant = ? AND episode_id = ?)'
      : '?';
    const numberArgs: SqlValue[] = autoNumber ? [tenant, s.episode_id] : [s.step_number];
    return {
      sql: `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, agent_id, body)
            VALUES (?, ?, ${number}, ?, ?, ?, (SELECT agent_id FROM episodes WHERE tenant = ? AND id = ?), ?)
            ${autoNumber ? 'RETURNING step_number' : ''}`,
      args: [
        tenant,
        s.episode_id,
        ...numberArgs,
        ms(s.timestamp),
        s.tool,
        s.result?.type ?? null,
        tenant,
        s.episode_id,
        JSON.stringify(stepBody(s)),
      ],
    };
  }

  /**
   * The numbered steps of a new episode, many rows per statement: one statement per step would cost a
   * round of binding and execution each, the largest part of an episode write.
   */
  private stepsInserts(tenant: string, steps: StepRecord[], agentId: string | null): Statement[] {
    const stmts: Statement[] = [];
    for (let i = 0; i < steps.length; i += STEP_ROWS_PER_INSERT) {
      const chunk = steps.slice(i, i + STEP_ROWS_PER_INSERT);
      stmts.push({
        sql: `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, agent_id, body)
              VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        args: chunk.flatMap((s) => [
          tenant,
          s.episode_id,
          s.step_number,
          ms(s.timestamp),
          s.tool,
          s.result?.type ?? null,
          agentId,
          JSON.stringify(stepBody(s)),
        ]),
      });
    }
    return stmts;
  }

  private async currentVersion(tenant: string, id: string): Promise<number | undefined> {
    const rows = await this.db.read('SELECT version FROM episodes WHERE tenant = ? AND id = ?', [tenant, id]);
    return rows[0] ? Number(rows[0].version) : undefined;
  }

  private async firstExisting(tenant: string, episodes: NewEpisode[]): Promise<string> {
    for (const e of episodes) {
      if ((await this.bodyHash(tenant, e.record.id)) !== null) return e.record.id;
    }
    return episodes[0]?.record.id ?? '';
  }
}
