import type { Database } from '../../db/database.js';
import { labelled, type Row, type Statement, sql } from '../../db/types.js';
import {
  EpisodeCompleted,
  EpisodeNotFound,
  StepLimitExceeded,
  StepNumberConflict,
  StepNumbersExhausted,
} from '../../domain/errors.js';
import { MAX_PAGE_BYTES, MAX_STEP_NUMBER, MAX_STEPS_PER_EPISODE } from '../../domain/limits.js';
import type { AppendedSteps, GlobalStepListQuery } from '../../domain/step.js';
import type { StepAppend, StepRepository } from '../step-repository.js';
import type { Encoded, Page, WriteClaim, Written } from '../types.js';
import { episodeExists, episodeGuard, ms } from './episode-rows.js';
import { boundedPageSql, decodeCursor, pageOf, type SortKey } from './pages.js';
import { locationInserts } from './spatiotemporal.js';
import { type Failures, guard } from './statements.js';
import {
  autoNumberedStepInsert,
  highestStepNumber,
  numberedStepInserts,
  numberedStepsJson,
  STEP_COLUMNS,
  toEncodedStep,
} from './step-rows.js';
import { tenantScope, type Where } from './where.js';
import { type ClaimedResult, claimResultUpdate, runClaimed } from './write-claims.js';

/** The labels this repository's statements carry, and the domain error each failure means. */
type StepFailure =
  | 'EPISODE_NOT_FOUND'
  | 'STEP_LIMIT_EXCEEDED'
  | 'EPISODE_COMPLETED'
  | 'STEP_NUMBERS_EXHAUSTED'
  | 'STEP_NUMBER_TAKEN';

export const STEP_FAILURES: Failures<StepFailure> = {
  EPISODE_NOT_FOUND: (id) => new EpisodeNotFound(id ?? ''),
  STEP_LIMIT_EXCEEDED: (id) => new StepLimitExceeded(id ?? '', MAX_STEPS_PER_EPISODE),
  EPISODE_COMPLETED: (id) => new EpisodeCompleted(id ?? ''),
  STEP_NUMBERS_EXHAUSTED: (id) => new StepNumbersExhausted(id ?? '', MAX_STEP_NUMBER),
  STEP_NUMBER_TAKEN: (id) => new StepNumberConflict(id ?? ''),
};

/** Bytes a row's columns add to its stored body in an answer. */
const STEP_ROW_BYTES = 150;
const PK_JOIN = 'steps s ON s.tenant = page.k0 AND s.episode_id = page.k1 AND s.step_number = page.k2';
const PK = ['s.tenant', 's.episode_id', 's.step_number'];
const NEWEST_FIRST: readonly SortKey[] = [
  { expr: 's.timestamp', desc: true },
  { expr: 's.episode_id', desc: true },
  { expr: 's.step_number', desc: true },
];

export class LibsqlStepRepository implements StepRepository {
  constructor(private readonly db: Database) {}

  append(
    tenant: string,
    episodeId: string,
    append: StepAppend,
    claim: WriteClaim,
  ): Promise<Written<AppendedSteps>> {
    const { steps } = append;
    const stmts: Statement[] = [
      episodeExists(tenant, episodeId),
      episodeGuard(
        'STEP_LIMIT_EXCEEDED',
        tenant,
        episodeId,
        (scope) => `(SELECT step_count FROM episodes WHERE ${scope}) + ? <= ?`,
        steps.length,
        MAX_STEPS_PER_EPISODE,
      ),
    ];
    if (append.strict) {
      stmts.push(
        episodeGuard(
          'EPISODE_COMPLETED',
          tenant,
          episodeId,
          (scope) => `(SELECT end_time FROM episodes WHERE ${scope}) IS NULL`,
        ),
      );
    }
    if (append.autoNumber) {
      const highest = highestStepNumber(tenant, episodeId);
      stmts.push(
        guard<StepFailure>(
          { code: 'STEP_NUMBERS_EXHAUSTED', subject: episodeId },
          `${highest.sql} + ? <= ?`,
          ...highest.args,
          steps.length,
          MAX_STEP_NUMBER,
        ),
      );
      // Each located step is indexed right after its insert, while its number is the episode's highest.
      for (const s of steps) {
        const at = ms(s.timestamp);
        stmts.push(
          autoNumberedStepInsert(tenant, s),
          ...locationInserts(tenant, episodeId, { lastInsertedStep: true }, s.location, at, at),
        );
      }
    } else {
      const taken = { code: 'STEP_NUMBER_TAKEN' satisfies StepFailure, subject: episodeId };
      stmts.push(
        ...numberedStepInserts(tenant, episodeId, steps).map((insert) => labelled(taken, insert)),
        ...steps.flatMap((s) =>
          locationInserts(
            tenant,
            episodeId,
            { step: s.step_number },
            s.location,
            ms(s.timestamp),
            ms(s.timestamp),
          ),
        ),
      );
    }
    const episode = tenantScope(tenant).and('id = ?', episodeId);
    stmts.push(
      sql(
        `UPDATE episodes SET step_count = step_count + ?, updated_at = ?, version = version + 1 WHERE ${episode}`,
        steps.length,
        Date.now(),
        ...episode.args,
      ),
    );
    let result: ClaimedResult<AppendedSteps>;
    if (!append.autoNumber) {
      result = { known: append.single ? (steps[0] as (typeof steps)[number]) : { items: steps } };
    } else {
      // Only the transaction knows the numbers: it fills them into the records and remembers the answer.
      const numbered = numberedStepsJson(tenant, episodeId, steps);
      const shaped = append.single
        ? `json_extract(${numbered.sql}, '$[0]')`
        : `json_object('items', json(${numbered.sql}))`;
      const computed = claimResultUpdate(tenant, claim, shaped, ...numbered.args);
      stmts.push(computed);
      result = { computed };
    }
    return runClaimed(this.db, tenant, claim, stmts, result, STEP_FAILURES);
  }

  async get(tenant: string, episodeId: string, stepNumber: number): Promise<Encoded | null> {
    const where = tenantScope(tenant, 's')
      .and('s.episode_id = ?', episodeId)
      .and('s.step_number = ?', stepNumber);
    const [row] = await this.db.read(`SELECT ${STEP_COLUMNS} FROM steps s WHERE ${where}`, where.args);
    return row ? { json: toEncodedStep(row) } : null;
  }

  listForEpisode(tenant: string, episodeId: string, limit: number, cursor?: string): Promise<Page<Encoded>> {
    const after = cursor === undefined ? 0 : Number(decodeCursor(cursor, 'step_number')[0]);
    const where = tenantScope(tenant, 's').and('s.episode_id = ?', episodeId).and('s.step_number > ?', after);
    return this.page(where, [{ expr: 's.step_number' }], limit, 'step_number', (last) => [
      Number(last.step_number),
    ]);
  }

  list(tenant: string, q: GlobalStepListQuery): Promise<Page<Encoded>> {
    const where = tenantScope(tenant, 's');
    if (q.tool !== undefined) where.and('s.tool = ?', q.tool);
    if (q.result !== undefined) where.and('s.result_type = ?', q.result);
    if (q.episode_id !== undefined) where.and('s.episode_id = ?', q.episode_id);
    if (q.agent_id !== undefined) where.and('s.agent_id = ?', q.agent_id);
    if (q.since !== undefined) where.and('s.timestamp >= ?', ms(q.since));
    if (q.until !== undefined) where.and('s.timestamp < ?', ms(q.until));
    if (q.cursor !== undefined) {
      const [time, episodeId, number] = decodeCursor(q.cursor, 'steps_newest') as [number, string, number];
      where.and('(s.timestamp, s.episode_id, s.step_number) < (?, ?, ?)', time, episodeId, number);
    }
    return this.page(where, NEWEST_FIRST, q.limit, 'steps_newest', (last) => [
      Number(last.timestamp),
      last.episode_id as string,
      Number(last.step_number),
    ]);
  }

  private async page(
    where: Where,
    order: readonly SortKey[],
    limit: number,
    sort: string,
    keyOf: (last: Row) => (string | number)[],
  ): Promise<Page<Encoded>> {
    const page = boundedPageSql({
      from: 'steps s',
      where,
      order,
      identity: PK,
      join: PK_JOIN,
      columns: STEP_COLUMNS,
      limit,
      budgets: [{ expr: `octet_length(s.body) + ${STEP_ROW_BYTES}`, max: MAX_PAGE_BYTES }],
    });
    const rows = await this.db.scan(page.sql, page.args);
    return pageOf(
      rows,
      rows.map((row) => ({ json: toEncodedStep(row) })),
      sort,
      keyOf,
    );
  }
}
