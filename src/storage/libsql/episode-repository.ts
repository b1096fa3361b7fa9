import type { Database } from '../../db/database.js';
import { labelled, type Row, type Statement } from '../../db/types.js';
import type { EpisodeRecord } from '../../domain/episode.js';
import { type EpisodeListQuery, filterOfListQuery } from '../../domain/episode-list.js';
import { EpisodeAlreadyCompleted, EpisodeNotFound, ResponseTooLarge } from '../../domain/errors.js';
import { MAX_EMBEDDED_STEPS, MAX_PAGE_BYTES } from '../../domain/limits.js';
import {
  type DeletionReport,
  type EpisodeChange,
  EpisodeIdTaken,
  type EpisodeRepository,
  type NewEpisode,
} from '../episode-repository.js';
import { type EncodedRecord, type Page, VersionMismatch, type WriteClaim, type Written } from '../types.js';
import { EMBEDDING_FAILURES, embeddingInserts, withModelDimension } from './embeddings.js';
import { whereEpisodeMatches } from './episode-filter.js';
import {
  EPISODE_COLUMNS,
  episodeExists,
  episodeGuard,
  episodeInsert,
  episodeUpdate,
  ftsDelete,
  ftsInsert,
  ms,
  tagInserts,
  tagsDelete,
  toEncodedEpisode,
  withStepsJson,
} from './episode-rows.js';
import { boundedPageSql, decodeCursor, pageOf, type SortKey } from './pages.js';
import { episodeLocationDelete, locationInserts } from './spatiotemporal.js';
import type { Failures } from './statements.js';
import { numberedStepInserts, STEP_COLUMNS, toEncodedStep } from './step-rows.js';
import { tenantScope } from './where.js';
import { claimResultUpdate, runClaimed } from './write-claims.js';

/** The labels this repository's statements carry, and the domain error each failure means. */
type EpisodeFailure =
  | 'EPISODE_NOT_FOUND'
  | 'VERSION_MISMATCH'
  | 'EPISODE_ALREADY_COMPLETED'
  | 'EPISODE_ID_TAKEN';

export const EPISODE_FAILURES: Failures<EpisodeFailure> = {
  EPISODE_NOT_FOUND: (id) => new EpisodeNotFound(id ?? ''),
  VERSION_MISMATCH: (id) => new VersionMismatch(id ?? ''),
  EPISODE_ALREADY_COMPLETED: (id) => new EpisodeAlreadyCompleted(id ?? ''),
  EPISODE_ID_TAKEN: (id) => new EpisodeIdTaken(id ?? ''),
};

/** Bytes a row's columns add to its stored body in an answer (ids, times, counts). */
const EPISODE_ROW_BYTES = 300;
const STEP_ROW_BYTES = 150;

const SORTS: Record<EpisodeListQuery['sort'], readonly SortKey[]> = {
  start_time_desc: [
    { expr: 'e.start_time', desc: true },
    { expr: 'e.id', desc: true },
  ],
  start_time_asc: [{ expr: 'e.start_time' }, { expr: 'e.id' }],
  reward_desc: [
    { expr: 'e.reward_total', desc: true, nullsLast: true },
    { expr: 'e.id', desc: true },
  ],
};

const spanOf = (r: EpisodeRecord) => [ms(r.start_time), r.end_time === null ? null : ms(r.end_time)] as const;

export class LibsqlEpisodeRepository implements EpisodeRepository {
  constructor(private readonly db: Database) {}

  create<T>(tenant: string, episodes: NewEpisode[], claim: WriteClaim, result: T): Promise<Written<T>> {
    const stmts = episodes.flatMap((e) => this.episodeInserts(tenant, e));
    return withModelDimension(
      this.db,
      tenant,
      runClaimed(
        this.db,
        tenant,
        claim,
        stmts,
        { known: result },
        { ...EPISODE_FAILURES, ...EMBEDDING_FAILURES },
      ),
    );
  }

  async get(tenant: string, id: string): Promise<EncodedRecord | null> {
    const row = await this.row(tenant, id);
    return row ? toEncodedEpisode(row) : null;
  }

  async getWithSteps(tenant: string, id: string): Promise<EncodedRecord | null> {
    const row = await this.row(tenant, id);
    if (!row) return null;
    const [withSteps] = await this.embedSteps(
      tenant,
      [row],
      MAX_PAGE_BYTES - Buffer.byteLength(String(row.body)),
    );
    if (!withSteps) {
      throw new ResponseTooLarge(
        `the steps of episode ${id} are larger than a page; list them with GET /v1/episodes/${id}/steps`,
      );
    }
    return withSteps;
  }

  async bodyHash(tenant: string, id: string): Promise<string | null> {
    const where = tenantScope(tenant).and('id = ?', id);
    const [row] = await this.db.read(`SELECT body_hash FROM episodes WHERE ${where}`, where.args);
    return (row?.body_hash as string | undefined) ?? null;
  }

  async list(tenant: string, q: EpisodeListQuery): Promise<Page<EncodedRecord>> {
    const where = whereEpisodeMatches(tenantScope(tenant, 'e'), filterOfListQuery(q));

    const sort = q.sort;
    if (q.cursor !== undefined) {
      const [key, id] = decodeCursor(q.cursor, sort) as [number | null, string];
      if (sort === 'start_time_asc') where.and('(e.start_time, e.id) > (?, ?)', key, id);
      else if (sort === 'start_time_desc') where.and('(e.start_time, e.id) < (?, ?)', key, id);
      else if (key === null) where.and('e.reward_total IS NULL AND e.id < ?', id);
      else
        where.and(
          '(e.reward_total < ? OR (e.reward_total = ? AND e.id < ?) OR e.reward_total IS NULL)',
          key,
          key,
          id,
        );
    }
    const withSteps = q.include === 'steps';
    const page = boundedPageSql({
      from: 'episodes e',
      where,
      order: SORTS[sort],
      identity: ['e.rowid'],
      join: 'episodes e ON e.rowid = page.k0',
      columns: `${EPISODE_COLUMNS}, e.reward_total`,
      limit: q.limit,
      budgets: [
        { expr: `octet_length(e.body) + ${EPISODE_ROW_BYTES}`, max: MAX_PAGE_BYTES },
        ...(withSteps ? [{ expr: 'e.step_count', max: MAX_EMBEDDED_STEPS }] : []),
      ],
    });
    const rows = await this.db.scan(page.sql, page.args);
    const cursorKey = (last: Row) => [
      sort === 'reward_desc' ? (last.reward_total as number | null) : Number(last.start_time),
      last.id as string,
    ];
    if (!withSteps || rows.length === 0) return pageOf(rows, rows.map(toEncodedEpisode), sort, cursorKey);
    // Episodes whose steps do not fit in what the page has left wait for the next page.
    const items = await this.embedSteps(tenant, rows, MAX_PAGE_BYTES - Number(rows.at(-1)?.page_b0));
    if (items.length === 0) {
      throw new ResponseTooLarge(
        `the steps of episode ${rows[0]?.id} are larger than a page; page through them with GET /v1/episodes/${rows[0]?.id}/steps`,
      );
    }
    return pageOf(rows, items, sort, cursorKey);
  }

  update(tenant: string, change: EpisodeChange, claim: WriteClaim): Promise<Written<EpisodeRecord>> {
    const r = change.record;
    const stmts: Statement[] = [
      episodeExists(tenant, r.id),
      episodeGuard(
        'VERSION_MISMATCH',
        tenant,
        r.id,
        (scope) => `(SELECT version FROM episodes WHERE ${scope}) = ?`,
        change.expectedVersion,
      ),
    ];
    if (change.mustBeInProgress) {
      stmts.push(
        episodeGuard(
          'EPISODE_ALREADY_COMPLETED',
          tenant,
          r.id,
          (scope) => `(SELECT end_time FROM episodes WHERE ${scope}) IS NULL`,
        ),
      );
    }
    stmts.push(
      episodeUpdate(tenant, r),
      tagsDelete(tenant, r.id),
      ...tagInserts(tenant, r),
      ftsDelete(tenant, r.id),
      ftsInsert(tenant, r),
      episodeLocationDelete(tenant, r.id),
      ...locationInserts(tenant, r.id, { episode: true }, r.location, ...spanOf(r)),
    );
    return runClaimed(this.db, tenant, claim, stmts, { known: r }, EPISODE_FAILURES);
  }

  delete(
    tenant: string,
    id: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<DeletionReport>> {
    const stmts: Statement[] = [episodeExists(tenant, id)];
    if (expectedVersion !== undefined) {
      stmts.push(
        episodeGuard(
          'VERSION_MISMATCH',
          tenant,
          id,
          (scope) => `(SELECT version FROM episodes WHERE ${scope}) = ?`,
          expectedVersion,
        ),
      );
    }
    // Counted inside the transaction, before the delete, and remembered in the claim for a retry.
    const ofEpisode = tenantScope(tenant).and('episode_id = ?', id);
    const ofEmbedding = tenantScope(tenant).and("item_type = 'episode'").and('item_id = ?', id);
    const report = claimResultUpdate(
      tenant,
      claim,
      `json_object('episodes', 1,
         'steps', (SELECT COUNT(*) FROM steps WHERE ${ofEpisode}),
         'tags', (SELECT COUNT(*) FROM episode_tags WHERE ${ofEpisode}),
         'embeddings', (SELECT COUNT(*) FROM embeddings WHERE ${ofEmbedding}),
         'spatiotemporal_entries', (SELECT COUNT(*) FROM spatiotemporal_entries WHERE ${ofEpisode}))`,
      ...ofEpisode.args,
      ...ofEpisode.args,
      ...ofEmbedding.args,
      ...ofEpisode.args,
    );
    const episode = tenantScope(tenant).and('id = ?', id);
    stmts.push(report, { sql: `DELETE FROM episodes WHERE ${episode}`, args: episode.args });
    return runClaimed(this.db, tenant, claim, stmts, { computed: report }, EPISODE_FAILURES);
  }

  private async row(tenant: string, id: string): Promise<Row | undefined> {
    const where = tenantScope(tenant, 'e').and('e.id = ?', id);
    const [row] = await this.db.read(`SELECT ${EPISODE_COLUMNS} FROM episodes e WHERE ${where}`, where.args);
    return row;
  }

  /**
   * The episodes (rows read with EPISODE_COLUMNS) with their steps embedded, as many of them, in order, as
   * fit whole in `bytes`: steps are read within that budget, and the first episode whose steps were cut
   * ends the list.
   */
  private async embedSteps(tenant: string, episodes: Row[], bytes: number): Promise<EncodedRecord[]> {
    const page = boundedPageSql({
      from: 'json_each(?) ids, steps s',
      fromArgs: [JSON.stringify(episodes.map((e) => e.id))],
      where: tenantScope(tenant, 's').and('s.episode_id = ids.value'),
      order: [{ expr: 'ids.key' }, { expr: 's.step_number' }],
      identity: ['s.tenant', 's.episode_id', 's.step_number'],
      join: 'steps s ON s.tenant = page.k0 AND s.episode_id = page.k1 AND s.step_number = page.k2',
      columns: STEP_COLUMNS,
      limit: MAX_EMBEDDED_STEPS,
      budgets: [{ expr: `octet_length(s.body) + ${STEP_ROW_BYTES}`, max: Math.max(bytes, 0) }],
    });
    const rows = await this.db.scan(page.sql, page.args);
    const cut = rows.length > 0 && Number(rows.at(-1)?.page_candidates) > rows.length;
    const steps = new Map<string, string[]>(episodes.map((e) => [e.id as string, []]));
    for (const row of rows) steps.get(row.episode_id as string)?.push(toEncodedStep(row));
    const whole: EncodedRecord[] = [];
    for (const e of episodes) {
      const own = steps.get(e.id as string) ?? [];
      if (cut && own.length < Number(e.step_count)) break;
      whole.push(withStepsJson(toEncodedEpisode(e), `[${own.join(',')}]`));
    }
    return whole;
  }

  private episodeInserts(tenant: string, e: NewEpisode): Statement[] {
    const r = e.record;
    return [
      labelled(
        { code: 'EPISODE_ID_TAKEN' satisfies EpisodeFailure, subject: r.id },
        episodeInsert(tenant, r, e.bodyHash),
      ),
      ...tagInserts(tenant, r),
      ftsInsert(tenant, r),
      ...locationInserts(tenant, r.id, { episode: true }, r.location, ...spanOf(r)),
      ...numberedStepInserts(tenant, r.id, e.steps, r.agent_id),
      ...e.steps.flatMap((s) =>
        locationInserts(tenant, r.id, { step: s.step_number }, s.location, ms(s.timestamp), ms(s.timestamp)),
      ),
      ...(e.embedding
        ? embeddingInserts(tenant, { type: 'episode', id: r.id }, e.embedding, ms(r.created_at))
        : []),
    ];
  }
}
