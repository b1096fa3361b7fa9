import type { DatabaseMode } from '../config.js';

/** Values bound to `?` placeholders. Always an array: named args on `?` abort the process (libsql-js#114). */
export type SqlValue = null | string | number | bigint | Uint8Array;
export type Row = Record<string, SqlValue>;

export interface Statement {
  readonly sql: string;
  readonly args: readonly SqlValue[];
}

export interface StatementResult {
  readonly rows: Row[];
  readonly changes: number;
}

/** A driver runs SQL on one kind of libSQL connection; the Database adds the resilience policy. */
export interface SqlDriver {
  readonly mode: DatabaseMode;
  /** Reads run to completion on the calling thread (the embedded file): no deadline can interrupt them. */
  readonly synchronousReads?: boolean;
  query(stmt: Statement): Promise<Row[]>;
  /** Runs the statements in one write transaction: all or nothing. */
  transaction(stmts: readonly Statement[]): Promise<StatementResult[]>;
  /**
   * Group commit: runs independent jobs in ONE write transaction, each job all-or-nothing on its own
   * (a savepoint), so a failing job does not fail its neighbours. Returns a result or an error per job.
   * Drivers without it commit one transaction per job.
   */
  group?(jobs: readonly (readonly Statement[])[]): Promise<(StatementResult[] | Error)[]>;
  /** Resolves when the driver can take calls (the embedded writer thread has started). */
  ready?(): Promise<void>;
  /** Embedded replica: pulls the primary's changes. */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

export const sql = (text: string, ...args: SqlValue[]): Statement => ({ sql: text, args });

/**
 * The statement's arguments, checked to be an array at run time: libsql aborts the whole process when an
 * object meets `?` placeholders (libsql-js#114), and types alone do not stop a stray `any`.
 */
export function argsOf(stmt: Statement): unknown[] {
  if (!Array.isArray(stmt.args))
    throw new TypeError('SQL arguments must be an array (positional ? placeholders)');
  return stmt.args as unknown[];
}
