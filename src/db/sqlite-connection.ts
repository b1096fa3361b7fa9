import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'libsql';
import { argsOf, atStatement, type Row, type Statement, type StatementResult } from './types.js';

type NativeStatement = ReturnType<Database.Database['prepare']>;

/** A prepared statement, and for one that returns rows, how its values become a row object. */
interface Prepared {
  statement: NativeStatement;
  toRow: ((values: unknown[]) => Row) | undefined;
}

/**
 * A function that turns a row's values into an object with the statement's column names: an object literal
 * of one fixed shape. libsql builds its row objects a property at a time through N-API, which cost a page of
 * 50 episodes ≈100 µs of a 1 ms statement; its raw rows (arrays) plus this cost ≈2 µs. The names are read
 * once, at prepare: a statement's columns are fixed by its text (no `table.*` whose columns could change).
 */
function rowFactory(columns: readonly string[]): (values: unknown[]) => Row {
  // A quoted `__proto__` key in a literal would set the prototype; a computed one is a plain property.
  const key = (name: string) => (name === '__proto__' ? '["__proto__"]' : JSON.stringify(name));
  const fields = columns.map((name, i) => `${key(name)}: v[${i}]`).join(', ');
  return new Function('v', `return { ${fields} };`) as (values: unknown[]) => Row;
}

/** The most of the file that is memory-mapped (SQLite's compiled ceiling, SQLITE_MAX_MMAP_SIZE). */
const MMAP_BYTES = 2_147_418_112;

/**
 * One connection to the embedded file through the `libsql` engine directly, with a prepared-statement
 * cache: the `@libsql/client` layer re-prepares every statement (≈100 µs against ≈15 µs, RELIABILITY.md).
 * Every call is synchronous.
 */
export class SqliteConnection {
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Prepared>();

  private readonly cacheSize: number;

  constructor(
    path: string,
    busyTimeoutMs: number,
    options: { readOnly?: boolean; cacheSize?: number; pageCacheKiB?: number } = {},
  ) {
    this.cacheSize = options.cacheSize ?? 500;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: busyTimeoutMs });
    this.db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    this.enterWal(busyTimeoutMs);
    this.db.pragma('synchronous = FULL'); // an acknowledged write survives a power cut
    this.db.pragma('foreign_keys = ON');
    // Random reads over a large file: map it (no read() copy per page, no system call) and keep more pages
    // cached. 2 GiB is SQLite's ceiling here; the mapping is address space, its pages the OS page cache.
    // (A 1.2 GB file mapped only to 256 MiB read most pages with pread: a place search cost 23 % more CPU.)
    this.db.pragma(`mmap_size = ${MMAP_BYTES}`);
    this.db.pragma(`cache_size = -${Math.trunc(options.pageCacheKiB ?? 32_768)}`);
    // A reader thread's connection: a bug that sends it a write fails instead of writing outside the writer.
    if (options.readOnly) this.db.pragma('query_only = 1');
  }

  /**
   * Switches the file to WAL (a setting the file keeps). On a fresh file another process may be switching it
   * at the same moment, and SQLite then answers SQLITE_BUSY at once, without its busy handler: the switch is
   * retried, a few milliseconds apart, until the busy timeout has passed.
   */
  private enterWal(busyTimeoutMs: number): void {
    const deadline = Date.now() + busyTimeoutMs;
    for (;;) {
      try {
        this.db.pragma('journal_mode = WAL');
        return;
      } catch (err) {
        const busy = (err as { code?: unknown }).code === 'SQLITE_BUSY';
        if (!busy || Date.now() >= deadline) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // a synchronous 5 ms pause
      }
    }
  }

  query(stmt: Statement): Row[] {
    return this.rows(this.prepare(stmt.sql), stmt);
  }

  /** All statements in one write transaction, or none. An error says which statement failed. */
  transaction(stmts: readonly Statement[]): StatementResult[] {
    this.control('BEGIN IMMEDIATE');
    try {
      const results = this.runAll(stmts);
      this.control('COMMIT');
      return results;
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  /** Group commit: one write transaction, one savepoint per job; a failed job rolls back alone. */
  group(jobs: readonly (readonly Statement[])[]): (StatementResult[] | Error)[] {
    this.control('BEGIN IMMEDIATE');
    try {
      const outcomes = jobs.map((job) => {
        this.control('SAVEPOINT job');
        try {
          const results = this.runAll(job);
          this.control('RELEASE job');
          return results;
        } catch (err) {
          this.control('ROLLBACK TO job');
          this.control('RELEASE job');
          return err instanceof Error ? err : new Error(String(err));
        }
      });
      this.control('COMMIT');
      return outcomes;
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  close(): void {
    this.cache.clear();
    if (this.db.open) this.db.close();
  }

  private runAll(stmts: readonly Statement[]): StatementResult[] {
    const results: StatementResult[] = [];
    for (let i = 0; i < stmts.length; i++) {
      try {
        results.push(this.run(stmts[i] as Statement));
      } catch (err) {
        throw atStatement(err, i);
      }
    }
    return results;
  }

  private run(stmt: Statement): StatementResult {
    const prepared = this.prepare(stmt.sql);
    if (prepared.toRow) {
      const rows = this.rows(prepared, stmt);
      return { rows, changes: rows.length };
    }
    const info = prepared.statement.run(argsOf(stmt));
    return { rows: [], changes: Number(info.changes) };
  }

  /** The rows of a statement that returns rows (none for one that does not). */
  private rows({ statement, toRow }: Prepared, stmt: Statement): Row[] {
    if (!toRow) {
      statement.run(argsOf(stmt));
      return [];
    }
    return (statement.all(argsOf(stmt)) as unknown[][]).map(toRow);
  }

  /** Transaction control through the statement cache: `exec` would parse it again every time. */
  private control(text: string): void {
    this.prepare(text).statement.run([]);
  }

  private prepare(text: string): Prepared {
    let prepared = this.cache.get(text);
    if (prepared) return prepared;
    const statement = this.db.prepare(text);
    let toRow: Prepared['toRow'];
    if (statement.reader) {
      statement.raw(true);
      toRow = rowFactory(statement.columns().map((column) => column.name));
    }
    prepared = { statement, toRow };
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(text, prepared);
    return prepared;
  }

  private rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }
}
