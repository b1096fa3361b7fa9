import type { DatabaseMode } from '../config.js';

/** Values bound to `?` placeholders. Always an array: named args on `?` abort the process (libsql-js#114). */
export type SqlValue = null | string | number | bigint | Uint8Array;
export type Row = Record<string, SqlValue>;

/**
 * What a statement's failure means to the code that wrote it: a guard's code, or the conflict a constraint
 * on this statement stands for (e.g. "this id is taken"). `subject` says which record, when a write has many.
 */
export interface StatementLabel<Code extends string = string> {
  readonly code: Code;
  readonly subject?: string;
}

export interface Statement {
  readonly sql: string;
  readonly args: readonly SqlValue[];
  /** Carried to the DbError when this statement is the one that failed. */
  readonly label?: StatementLabel;
}

/**
 * The label of a write's claim: a first statement that succeeds only if this write has not committed
 * before and fails on a unique constraint if it has. A write that starts with a claim is safe to retry
 * whatever happened to an earlier attempt, so the policy retries it on unknown outcomes too.
 */
export const CLAIM = 'CLAIM';

export const isClaimed = (stmts: readonly Statement[]): boolean => stmts[0]?.label?.code === CLAIM;

export interface StatementResult {
  readonly rows: Row[];
  readonly changes: number;
}

/** A driver runs SQL on one kind of libSQL connection; the Database adds the resilience policy. */
export interface SqlDriver {
  readonly mode: DatabaseMode;
  /** Point reads run to completion on the calling thread (the embedded file): no deadline can interrupt them. */
  readonly synchronousReads?: boolean;
  query(stmt: Statement): Promise<Row[]>;
  /**
   * A read that may be long (a page of records with their children, a scan): the embedded file runs it on
   * a reader thread so that it never stalls the event loop. Drivers without one run it as `query`.
   */
  scan?(stmt: Statement): Promise<Row[]>;
  /**
   * Runs the statements in one write transaction: all or nothing. On failure the error carries
   * `statementIndex`, the index of the statement that failed, when the driver knows it. `unbounded`: startup
   * work (a migration), which takes as long as it takes: no deadline of the driver's own either.
   */
  transaction(stmts: readonly Statement[], options?: { unbounded?: boolean }): Promise<StatementResult[]>;
  /**
   * Group commit: runs independent jobs in ONE write transaction, each job all-or-nothing on its own
   * (a savepoint), so a failing job does not fail its neighbours. Returns a result or an error per job
   * (with `statementIndex` within the job). Drivers without it commit one transaction per job.
   */
  group?(jobs: readonly (readonly Statement[])[]): Promise<(StatementResult[] | Error)[]>;
  /** Resolves when the driver can take calls (the embedded writer thread has started). */
  ready?(): Promise<void>;
  /** Embedded replica: pulls the primary's changes. */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

export const sql = (text: string, ...args: SqlValue[]): Statement => ({ sql: text, args });

/** The same statement, labelled: its failure will carry `label` (see StatementLabel). */
export const labelled = (label: StatementLabel, stmt: Statement): Statement => ({ ...stmt, label });

/**
 * The statement's arguments, checked to be an array at run time: libsql aborts the whole process when an
 * object meets `?` placeholders (libsql-js#114), and types alone do not stop a stray `any`.
 */
export function argsOf(stmt: Statement): unknown[] {
  if (!Array.isArray(stmt.args))
    throw new TypeError('SQL arguments must be an array (positional ? placeholders)');
  return stmt.args as unknown[];
}

/** Marks an error with the index of the statement that raised it (see SqlDriver.transaction). */
export function atStatement(err: unknown, index: number): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  return Object.assign(error, { statementIndex: index });
}
