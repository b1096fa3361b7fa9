import { DbError } from '../../db/errors.js';
import { labelled, type SqlValue, type Statement, type StatementLabel, sql } from '../../db/types.js';

// Statements whose failure has a meaning: guards, and the domain errors each label stands for.

/**
 * A guard: aborts the write's transaction unless `condition` (SQL written here, never user input) is
 * exactly 1 — false and NULL abort alike (migration 2's one fail-closed trigger). Its label (a code, and the
 * record it is about when a write has many) says which guard failed; the repository maps it to its domain
 * error. Check-then-write stays atomic inside one batch, with
 * no interactive transaction (RELIABILITY.md).
 */
export function guard<Code extends string>(
  label: Code | StatementLabel<Code>,
  condition: string,
  ...args: SqlValue[]
): Statement {
  const { code, subject } = typeof label === 'string' ? { code: label, subject: undefined } : label;
  return labelled(
    subject === undefined ? { code } : { code, subject },
    sql(`INSERT INTO engram_guard (ok) VALUES ((${condition}))`, ...args),
  );
}

/** Each label a repository puts on its statements, with the domain error its failure means. */
export type Failures<Code extends string> = Readonly<Record<Code, (subject: string | undefined) => Error>>;

/**
 * Throws the domain error that a failed write's labelled statement stands for, if `failures` knows the
 * label; anything else (an unlabelled failure, a guard no repository declared) is rethrown as it is — an
 * unexpected failure is a 500, never a silent pass.
 */
export function rethrowAsDomainError(err: unknown, failures: Failures<string>): never {
  if (err instanceof DbError && (err.kind === 'precondition' || err.kind === 'constraint') && err.label) {
    const failure = Object.hasOwn(failures, err.label.code) ? failures[err.label.code] : undefined;
    if (failure) throw failure(err.label.subject);
  }
  throw err;
}
