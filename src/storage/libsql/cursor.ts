import { InvalidCursor } from '../../domain/errors.js';

type CursorKey = string | number | null;

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
