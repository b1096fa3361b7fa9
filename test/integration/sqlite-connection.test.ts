import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/**
 * A process that opens a SqliteConnection on each path at its own instant (`start + i × gap` ms), all
 * processes at the same instants, and prints each file's journal mode or the error.
 */
function openAtInstants(paths: string[], start: number, gap: number): Promise<string[]> {
  const module = JSON.stringify(fileURLToPath(new URL('../../src/db/sqlite-connection.ts', import.meta.url)));
  const script = `
    const { SqliteConnection } = await import(${module});
    const [paths, start, gap] = JSON.parse(process.argv[1]);
    const out = [];
    for (const [i, path] of paths.entries()) {
      while (Date.now() < start + i * gap) {} // spin, not sleep: the opens must collide to the millisecond
      try {
        const connection = new SqliteConnection(path, 5000);
        out.push(connection.query({ sql: 'PRAGMA journal_mode', args: [] })[0].journal_mode);
        connection.close();
      } catch (err) {
        out.push(String(err));
      }
    }
    process.stdout.write(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify([paths, start, gap])],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.once('error', reject);
    child.once('close', () => resolve(JSON.parse(stdout || '[]') as string[]));
  });
}

describe('SqliteConnection on a fresh file', () => {
  // Switching a new file to WAL while another process does the same can answer SQLITE_BUSY at once, without
  // SQLite's busy handler (seen in CI: `npm run migrate` twice at once; 12 of 40 such pairs failed here).
  it('four processes opening the same new files at the same instants - every open succeeds, in WAL', async () => {
    const paths = Array.from({ length: 12 }, (_, i) => join(dir, `fresh-${i}.db`));
    const start = Date.now() + 3_000; // after the processes have started
    const runs = await Promise.all(Array.from({ length: 4 }, () => openAtInstants(paths, start, 100)));
    for (const modes of runs) expect(modes).toEqual(paths.map(() => 'wal'));
  });
});
