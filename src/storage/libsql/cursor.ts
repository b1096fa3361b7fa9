import type { Row } from '../../db/types.js';
import { InvalidCursor } from '../../domain/errors.js';
import type { Page } from '../episode-repository.js';

type CursorKey = string | number | null;

/**
 * The one pagination helper: `rows` were read with LIMIT `limit + 1`, so a row beyond the page says there
 * is a next one, and the page's last row gives the cursor's sort key.
 */
export function pageOf<T>(
  rows: Row[],
  limit: number,
  toItem: (row: Row) => T,
  sort: string,
  keyOf: (last: Row) => CursorKey[],
): Page<T> {
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return {
    items: rows.slice(0, limit).map(toItem),
    next_cursor: last ? encodeCursor(sort, keyOf(last)) : null,
  };
}

/** Opaque keyset cursor: the sort it belongs to and the last row's sort key. */
export function encodeCursor(sort: string, key: CursorKey[]): string {
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
