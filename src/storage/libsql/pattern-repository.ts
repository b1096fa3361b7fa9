import type { Database } from '../../db/database.js';
import { labelled, type Statement, sql } from '../../db/types.js';
import { normaliseTags } from '../../domain/common.js';
import { PatternNotFound } from '../../domain/errors.js';
import { MAX_PAGE_BYTES } from '../../domain/limits.js';
import type { ApplicationCreate, PatternListQuery, PatternRecord } from '../../domain/pattern.js';
import type { Suggestion, SuggestionQuery } from '../../domain/suggestions.js';
import {
  type NewPattern,
  type PatternChange,
  PatternIdTaken,
  type PatternRepository,
} from '../pattern-repository.js';
import { type EncodedRecord, type Page, VersionMismatch, type WriteClaim, type Written } from '../types.js';
import { itemEmbeddingsDelete } from './embeddings.js';
import { ms } from './episode-rows.js';
import { boundedPageSql, decodeCursor, pageOf, type SortKey } from './pages.js';
import {
  PATTERN_COLUMNS,
  patternInsert,
  patternRecordSql,
  patternTagInserts,
  patternTagsDelete,
  patternUpdate,
  recordDelete,
  recordGuards,
  SCORE_AFTER_APPLICATION,
  toEncodedPattern,
} from './pattern-rows.js';
import type { Failures } from './statements.js';
import { minedSuggestions } from './suggestions.js';
import { tenantScope, type Where } from './where.js';
import { claimResultUpdate, runClaimed } from './write-claims.js';

type PatternFailure = 'NOT_FOUND' | 'VERSION_MISMATCH' | 'PATTERN_ID_TAKEN';

const PATTERN_FAILURES: Failures<PatternFailure> = {
  NOT_FOUND: (id) => new PatternNotFound(id ?? ''),
  VERSION_MISMATCH: (id) => new VersionMismatch(id ?? ''),
  PATTERN_ID_TAKEN: (id) => new PatternIdTaken(id ?? ''),
};

/** Bytes a row's columns add to its stored body in an answer (ids, times, counters). */
const PATTERN_ROW_BYTES = 400;

/** Each sort: its column (the keyset's first key) and whether that column may be NULL. */
const SORTS: Record<PatternListQuery['sort'], { column: string; nullable: boolean }> = {
  success_rate_desc: { column: 'p.success_rate', nullable: true },
  effectiveness_desc: { column: 'p.effectiveness', nullable: false },
  created_desc: { column: 'p.created_at', nullable: false },
};

/** Rows after (column, id) in (column DESC, id DESC) order; NULLs of a nullable column come last. */
export function descendingAfter(
  where: Where,
  column: string,
  id: string,
  key: number | null,
  alias: string,
  nullable: boolean,
): void {
  if (key === null) where.and(`${column} IS NULL AND ${alias}.id < ?`, id);
  else if (!nullable) where.and(`(${column}, ${alias}.id) < (?, ?)`, key, id);
  else where.and(`(${column} < ? OR (${column} = ? AND ${alias}.id < ?) OR ${column} IS NULL)`, key, key, id);
}

export class LibsqlPatternRepository implements PatternRepository {
  constructor(private readonly db: Database) {}

  create(tenant: string, pattern: NewPattern, claim: WriteClaim): Promise<Written<PatternRecord>> {
    const r = pattern.record;
    const stmts = [
      labelled(
        { code: 'PATTERN_ID_TAKEN' satisfies PatternFailure, subject: r.id },
        patternInsert(tenant, r, pattern.bodyHash),
      ),
      ...patternTagInserts(tenant, r),
    ];
    return runClaimed(this.db, tenant, claim, stmts, { known: r }, PATTERN_FAILURES);
  }

  async get(tenant: string, id: string): Promise<EncodedRecord | null> {
    const where = tenantScope(tenant, 'p').and('p.id = ?', id);
    const [row] = await this.db.read(`SELECT ${PATTERN_COLUMNS} FROM patterns p WHERE ${where}`, where.args);
    return row ? toEncodedPattern(row) : null;
  }

  async bodyHash(tenant: string, id: string): Promise<string | null> {
    const where = tenantScope(tenant).and('id = ?', id);
    const [row] = await this.db.read(`SELECT body_hash FROM patterns WHERE ${where}`, where.args);
    return (row?.body_hash as string | undefined) ?? null;
  }

  async list(tenant: string, q: PatternListQuery): Promise<Page<EncodedRecord>> {
    const where = tenantScope(tenant, 'p');
    if (q.kind !== undefined) where.and('p.kind = ?', q.kind);
    if (q.domain !== undefined) where.and('p.domain = ?', q.domain);
    if (q.language !== undefined) where.and('p.language = ?', q.language);
    if (q.min_success_rate !== undefined) where.and('p.success_rate >= ?', q.min_success_rate);
    const tags = normaliseTags(q.tag ?? []);
    if (tags.length > 0) {
      where.and(
        `EXISTS (SELECT 1 FROM pattern_tags t WHERE t.tenant = p.tenant AND t.pattern_id = p.id AND t.tag IN (${tags.map(() => '?').join(', ')}))`,
        ...tags,
      );
    }
    const sort = SORTS[q.sort];
    if (q.cursor !== undefined) {
      const [key, id] = decodeCursor(q.cursor, q.sort) as [number | null, string];
      descendingAfter(where, sort.column, String(id), key, 'p', sort.nullable);
    }
    const order: SortKey[] = [
      { expr: sort.column, desc: true },
      { expr: 'p.id', desc: true },
    ];
    const page = boundedPageSql({
      from: 'patterns p',
      where,
      order,
      identity: ['p.rowid'],
      join: 'patterns p ON p.rowid = page.k0',
      columns: `${PATTERN_COLUMNS}, ${sort.column} AS sort_key`,
      limit: q.limit,
      budgets: [{ expr: `octet_length(p.body) + ${PATTERN_ROW_BYTES}`, max: MAX_PAGE_BYTES }],
    });
    const rows = await this.db.scan(page.sql, page.args);
    return pageOf(rows, rows.map(toEncodedPattern), q.sort, (last) => [
      last.sort_key === null ? null : Number(last.sort_key),
      last.id as string,
    ]);
  }

  update(tenant: string, change: PatternChange, claim: WriteClaim): Promise<Written<PatternRecord>> {
    const r = change.record;
    const stmts = [
      ...recordGuards('patterns', tenant, r.id, change.expectedVersion),
      patternUpdate(tenant, r),
      patternTagsDelete(tenant, r.id),
      ...patternTagInserts(tenant, r),
    ];
    return runClaimed(this.db, tenant, claim, stmts, { known: r }, PATTERN_FAILURES);
  }

  delete(
    tenant: string,
    id: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<null>> {
    const stmts = [
      ...recordGuards('patterns', tenant, id, expectedVersion),
      itemEmbeddingsDelete(tenant, { type: 'pattern', id }),
      recordDelete('patterns', tenant, id),
    ];
    return runClaimed(this.db, tenant, claim, stmts, { known: null }, PATTERN_FAILURES);
  }

  apply(
    tenant: string,
    id: string,
    application: ApplicationCreate,
    at: string,
    claim: WriteClaim,
  ): Promise<Written<PatternRecord>> {
    const helped = application.outcome === 'helped' ? 1 : 0;
    const hindered = application.outcome === 'hindered' ? 1 : 0;
    const delta = application.reward_delta ?? null;
    const now = ms(at);
    const scope = tenantScope(tenant).and('id = ?', id);
    const counters = sql(
      `UPDATE patterns SET
         times_applied = times_applied + 1,
         success_when_applied = success_when_applied + ?,
         failure_when_applied = failure_when_applied + ?,
         avg_reward_delta = CASE WHEN ? IS NULL THEN avg_reward_delta
           ELSE avg_reward_delta + (? - avg_reward_delta) / (reward_samples + 1) END,
         reward_samples = reward_samples + (? IS NOT NULL),
         last_used = ?,
         effectiveness = ${SCORE_AFTER_APPLICATION},
         version = version + 1,
         updated_at = ?
       WHERE ${scope}`,
      helped,
      hindered,
      delta,
      delta,
      delta,
      now,
      helped,
      now,
      ...scope.args,
    );
    const row = tenantScope(tenant, 'p').and('p.id = ?', id);
    const answer = claimResultUpdate(tenant, claim, patternRecordSql(`${row}`), ...row.args);
    const stmts: Statement[] = [
      ...recordGuards('patterns', tenant, id),
      counters,
      sql(
        `INSERT INTO pattern_applications (tenant, pattern_id, episode_id, outcome, reward_delta, applied_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        tenant,
        id,
        application.episode_id ?? null,
        application.outcome,
        delta,
        now,
      ),
      answer,
    ];
    return runClaimed(this.db, tenant, claim, stmts, { computed: answer }, PATTERN_FAILURES);
  }

  addRetrievals(
    tenant: string,
    counts: ReadonlyMap<string, number>,
    claim: WriteClaim,
  ): Promise<Written<null>> {
    const where = tenantScope(tenant, 'patterns').and('patterns.id = c.id');
    const stmt = sql(
      `UPDATE patterns SET times_retrieved = times_retrieved + c.n
       FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS n FROM json_each(?)) c
       WHERE ${where}`,
      JSON.stringify([...counts]),
      ...where.args,
    );
    return runClaimed(this.db, tenant, claim, [stmt], { known: null }, PATTERN_FAILURES);
  }

  suggestions(tenant: string, query: SuggestionQuery): Promise<Suggestion[]> {
    return minedSuggestions(this.db, tenant, query);
  }
}
