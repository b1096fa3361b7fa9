import type { Database } from '../../db/database.js';
import { labelled } from '../../db/types.js';
import { HeuristicNotFound } from '../../domain/errors.js';
import { MAX_PAGE_BYTES } from '../../domain/limits.js';
import type { HeuristicListQuery, HeuristicRecord } from '../../domain/pattern.js';
import { HeuristicIdTaken, type HeuristicRepository, type NewHeuristic } from '../heuristic-repository.js';
import { type EncodedRecord, type Page, VersionMismatch, type WriteClaim, type Written } from '../types.js';
import { itemEmbeddingsDelete } from './embeddings.js';
import { boundedPageSql, decodeCursor, pageOf } from './pages.js';
import { descendingAfter } from './pattern-repository.js';
import {
  HEURISTIC_COLUMNS,
  heuristicInsert,
  heuristicUpdate,
  recordDelete,
  recordGuards,
  toEncodedHeuristic,
} from './pattern-rows.js';
import type { Failures } from './statements.js';
import { tenantScope } from './where.js';
import { runClaimed } from './write-claims.js';

type HeuristicFailure = 'NOT_FOUND' | 'VERSION_MISMATCH' | 'HEURISTIC_ID_TAKEN';

const HEURISTIC_FAILURES: Failures<HeuristicFailure> = {
  NOT_FOUND: (id) => new HeuristicNotFound(id ?? ''),
  VERSION_MISMATCH: (id) => new VersionMismatch(id ?? ''),
  HEURISTIC_ID_TAKEN: (id) => new HeuristicIdTaken(id ?? ''),
};

const HEURISTIC_ROW_BYTES = 200;
const SORT = 'confidence_desc';

export class LibsqlHeuristicRepository implements HeuristicRepository {
  constructor(private readonly db: Database) {}

  create(tenant: string, heuristic: NewHeuristic, claim: WriteClaim): Promise<Written<HeuristicRecord>> {
    const r = heuristic.record;
    const insert = labelled(
      { code: 'HEURISTIC_ID_TAKEN' satisfies HeuristicFailure, subject: r.id },
      heuristicInsert(tenant, r, heuristic.bodyHash),
    );
    return runClaimed(this.db, tenant, claim, [insert], { known: r }, HEURISTIC_FAILURES);
  }

  async get(tenant: string, id: string): Promise<EncodedRecord | null> {
    const where = tenantScope(tenant, 'h').and('h.id = ?', id);
    const [row] = await this.db.read(
      `SELECT ${HEURISTIC_COLUMNS} FROM heuristics h WHERE ${where}`,
      where.args,
    );
    return row ? toEncodedHeuristic(row) : null;
  }

  async bodyHash(tenant: string, id: string): Promise<string | null> {
    const where = tenantScope(tenant).and('id = ?', id);
    const [row] = await this.db.read(`SELECT body_hash FROM heuristics WHERE ${where}`, where.args);
    return (row?.body_hash as string | undefined) ?? null;
  }

  async list(tenant: string, q: HeuristicListQuery): Promise<Page<EncodedRecord>> {
    const where = tenantScope(tenant, 'h');
    if (q.min_confidence !== undefined) where.and('h.confidence >= ?', q.min_confidence);
    if (q.cursor !== undefined) {
      const [key, id] = decodeCursor(q.cursor, SORT) as [number | null, string];
      descendingAfter(where, 'h.confidence', String(id), Number(key), 'h', false);
    }
    const page = boundedPageSql({
      from: 'heuristics h',
      where,
      order: [
        { expr: 'h.confidence', desc: true },
        { expr: 'h.id', desc: true },
      ],
      identity: ['h.rowid'],
      join: 'heuristics h ON h.rowid = page.k0',
      columns: `${HEURISTIC_COLUMNS}, h.confidence`,
      limit: q.limit,
      budgets: [{ expr: `octet_length(h.body) + ${HEURISTIC_ROW_BYTES}`, max: MAX_PAGE_BYTES }],
    });
    const rows = await this.db.scan(page.sql, page.args);
    return pageOf(rows, rows.map(toEncodedHeuristic), SORT, (last) => [
      Number(last.confidence),
      last.id as string,
    ]);
  }

  update(
    tenant: string,
    change: { record: HeuristicRecord; expectedVersion: number },
    claim: WriteClaim,
  ): Promise<Written<HeuristicRecord>> {
    const r = change.record;
    const stmts = [
      ...recordGuards('heuristics', tenant, r.id, change.expectedVersion),
      heuristicUpdate(tenant, r),
    ];
    return runClaimed(this.db, tenant, claim, stmts, { known: r }, HEURISTIC_FAILURES);
  }

  delete(
    tenant: string,
    id: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<null>> {
    const stmts = [
      ...recordGuards('heuristics', tenant, id, expectedVersion),
      itemEmbeddingsDelete(tenant, { type: 'heuristic', id }),
      recordDelete('heuristics', tenant, id),
    ];
    return runClaimed(this.db, tenant, claim, stmts, { known: null }, HEURISTIC_FAILURES);
  }
}
