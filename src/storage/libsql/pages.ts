import type { Row, SqlValue } from '../../db/types.js';
import { InvalidCursor } from '../../domain/errors.js';
import type { Page } from '../types.js';
import type { Where } from './where.js';

// Keyset pagination (SPEC §2) with a size budget: one SQL shape and one helper for every list.

export type CursorKey = string | number | null;

/** Opaque keyset cursor: the sort it belongs to and the last row's sort key. */
function encodeCursor(sort: string, key: CursorKey[]): string {
  return Buffer.from(JSON.stringify({ s: sort, k: key })).toString('base64url');
}

/** Decodes a cursor made by `encodeCursor` for the same sort; anything else is a 400. */
export function decodeCursor(cursor: string, sort: string): CursorKey[] {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      s?: unknown;
      k?: unknown;
    };
    const valid =
      parsed.s === sort &&
      Array.isArray(parsed.k) &&
      parsed.k.every(
        (v) => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)),
      );
    if (valid) return parsed.k as CursorKey[];
  } catch {
    // falls through to the 400
  }
  throw new InvalidCursor();
}

export interface SortKey {
  /** An expression over the listed table, e.g. `e.start_time`. */
  expr: string;
  desc?: boolean;
  nullsLast?: boolean;
}

/** A keyset list: what to read, in which order, and how big a page may get. */
export interface BoundedPageQuery {
  /** The FROM clause, e.g. `episodes e`; `fromArgs` bind its placeholders. */
  from: string;
  fromArgs?: readonly SqlValue[];
  where: Where;
  order: readonly SortKey[];
  /** The row's identity in the table it is read from back, e.g. `['e.rowid']`. */
  identity: readonly string[];
  /** How the page joins back: `page` is the name of the page's rows, `k0..kn` its identity columns. */
  join: string;
  /** The columns of a row as the caller maps it. */
  columns: string;
  limit: number;
  /**
   * What a page may carry, as running sums over its rows: e.g. bytes (`octet_length(e.body)`, read from the
   * row's header, never loading the value) up to MAX_PAGE_BYTES. Rows past any budget wait for the next
   * page; the first row is always answered. Each row comes with its running sums `page_b0..`.
   */
  budgets: readonly { expr: string; max: number }[];
  /**
   * When the budgets' expressions read a table that `from` does not hold: the join that brings it in for the
   * chosen candidates only (their identity `chosen.k0..`), e.g. `episodes e ON e.tenant = chosen.k0 AND e.id = chosen.k1`,
   * and that table's rowid, which the page carries as `page.weighed` for `join` (e.g. `episodes e ON e.rowid =
   * page.weighed`: the record is found again without a second lookup by its key). The candidates are then
   * chosen from `from` alone, and only the `limit + 1` of them are weighed.
   */
  weighIn?: { join: string; rowid: string };
}

const orderBy = (keys: readonly SortKey[], name: (k: SortKey, i: number) => string) =>
  keys.map((k, i) => `${name(k, i)}${k.desc ? ' DESC' : ''}${k.nullsLast ? ' NULLS LAST' : ''}`).join(', ');

/**
 * The SQL of one bounded page. Candidates (the next `limit + 1` rows in order) are read with their weights
 * only; running sums over them keep the rows that fit in the budgets; only those rows' columns are read.
 * So a page never loads more than its budget, whatever `limit` says and however large the records are.
 * Each row comes with `page_candidates`: how many rows were in line, for `boundedPage`.
 */
export function boundedPageSql(q: BoundedPageQuery): { sql: string; args: SqlValue[] } {
  const ids = q.identity.map((expr, i) => `${expr} AS k${i}`).join(', ');
  const sorts = q.order.map((k, i) => `${k.expr} AS o${i}`).join(', ');
  const weights = q.budgets.map((b, i) => `${b.expr} AS w${i}`).join(', ');
  const sums = q.budgets.map((_, i) => `SUM(w${i}) OVER w AS page_b${i}`).join(', ');
  const withinBudgets = q.budgets.map((_, i) => `page.page_b${i} <= ?`).join(' AND ');
  const chosen = `SELECT ${ids}, ${sorts}${q.weighIn ? '' : `, ${weights}`} FROM ${q.from} WHERE ${q.where}
      ORDER BY ${orderBy(q.order, (k) => k.expr)} LIMIT ?`;
  const candidates = q.weighIn
    ? `chosen AS (${chosen}), candidates AS (
        SELECT chosen.*, ${q.weighIn.rowid} AS weighed, ${weights} FROM chosen CROSS JOIN ${q.weighIn.join})`
    : `candidates AS (${chosen})`;
  const keys = [...q.identity.map((_, i) => `k${i}`), ...(q.weighIn ? ['weighed'] : [])];
  const text = `WITH ${candidates}, page AS (
      SELECT ${keys.join(', ')}, ${sums},
        ROW_NUMBER() OVER w AS page_n, COUNT(*) OVER () AS page_candidates
      FROM candidates WINDOW w AS (ORDER BY ${orderBy(q.order, (_, i) => `o${i}`)} ROWS UNBOUNDED PRECEDING)
    )
    SELECT ${q.columns}, ${q.budgets.map((_, i) => `page.page_b${i}`).join(', ')}, page.page_candidates
    FROM page JOIN ${q.join}
    WHERE page.page_n <= ? AND (page.page_n = 1 OR (${withinBudgets}))
    ORDER BY page.page_n`;
  return {
    sql: text,
    args: [...(q.fromArgs ?? []), ...q.where.args, q.limit + 1, q.limit, ...q.budgets.map((b) => b.max)],
  };
}

/** Whether rows were in line after the page read by `boundedPageSql` (past its limit or its budgets). */
const morePages = (rows: Row[]): boolean =>
  rows.length > 0 && Number(rows.at(-1)?.page_candidates) > rows.length;

/**
 * The one pagination helper: `rows` were read by `boundedPageSql` and `items` are the first of them as
 * records (all of them, unless the caller ended the page earlier). When rows followed the page's last
 * item, that item's row gives the cursor's sort key.
 */
export function pageOf<T>(rows: Row[], items: T[], sort: string, keyOf: (last: Row) => CursorKey[]): Page<T> {
  const last = rows[items.length - 1];
  const more = items.length < rows.length || morePages(rows);
  return { items, next_cursor: more && last ? encodeCursor(sort, keyOf(last)) : null };
}
