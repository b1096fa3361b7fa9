import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteConnection } from '../../src/db/sqlite-connection.js';

// Rows are built from libsql's raw rows (arrays) by a function made from the statement's column names:
// whatever the names, a row must be the object libsql itself would have built.

const dir = mkdtempSync(join(tmpdir(), 'engram-connection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteConnection rows', () => {
  it('column names that are not identifiers - each a plain property with its value', () => {
    const connection = new SqliteConnection(join(dir, 'names.db'), 50);
    try {
      const [row] = connection.query({
        sql: `SELECT 1 AS "__proto__", 'x' AS "a""b", NULL AS "c d", 2.5 AS "constructor", X'01' AS "\\", 'y' AS same, 'z' AS same`,
        args: [],
      });
      expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
      expect(Object.entries(row ?? {})).toEqual([
        ['__proto__', 1],
        ['a"b', 'x'],
        ['c d', null],
        ['constructor', 2.5],
        ['\\', Buffer.from([1])],
        ['same', 'z'],
      ]);
    } finally {
      connection.close();
    }
  });

  it('a statement run again with other arguments - rows of the same shape, the new values', () => {
    const connection = new SqliteConnection(join(dir, 'again.db'), 50);
    try {
      connection.transaction([{ sql: 'CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)', args: [] }]);
      const inserted = connection.transaction([
        { sql: 'INSERT INTO t (v) VALUES (?), (?) RETURNING k, v', args: ['a', 'b'] },
      ]);
      expect(inserted[0]).toEqual({
        rows: [
          { k: 1, v: 'a' },
          { k: 2, v: 'b' },
        ],
        changes: 2,
      });
      const read = { sql: 'SELECT k, v FROM t WHERE k >= ? ORDER BY k', args: [1] };
      expect(connection.query(read)).toEqual([
        { k: 1, v: 'a' },
        { k: 2, v: 'b' },
      ]);
      expect(connection.query({ ...read, args: [2] })).toEqual([{ k: 2, v: 'b' }]);
      expect(connection.query({ sql: 'UPDATE t SET v = ? WHERE k = 1', args: ['c'] })).toEqual([]);
      expect(connection.query({ ...read, args: [1] })[0]).toEqual({ k: 1, v: 'c' });
    } finally {
      connection.close();
    }
  });
});
