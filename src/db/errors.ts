import {
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  TaskCancelledError,
} from 'cockatiel';
import type { StatementLabel } from './types.js';

/** Why a database call failed, as the rest of the service needs to know it (driver types never leak). */
export type DbErrorKind =
  | 'precondition' // a guard statement's condition did not hold (see GUARD_FAILED)
  | 'constraint' // a UNIQUE / FOREIGN KEY / CHECK constraint
  | 'busy' // SQLITE_BUSY / locked, or SQLITE_SCHEMA: another connection holds the lock or changed the schema
  | 'connection' // refused, reset, DNS, socket errors
  | 'server' // remote 5xx / stream errors
  | 'timeout' // the policy's deadline
  | 'circuit_open'
  | 'overloaded' // the pool queue is full
  | 'closed'
  | 'outcome_unknown' // a write's attempts ended without knowing whether it committed
  | 'sql'; // everything else: a bug or bad SQL, never retried

/** What a guard trigger raises (migration 2): the failing statement's label says which guard. */
export const GUARD_FAILED = 'ENGRAM_GUARD';

export class DbError extends Error {
  override name = 'DbError';
  /** The label of the statement that failed, when the driver said which one (see Statement.label). */
  label?: StatementLabel;
  constructor(
    readonly kind: DbErrorKind,
    message: string,
    readonly detail?: string,
    options?: ErrorOptions & { statementIndex?: number },
  ) {
    super(message, options);
    this.statementIndex = options?.statementIndex;
  }
  /** Index of the failing statement in its transaction (or group job), when the driver reported it. */
  readonly statementIndex: number | undefined;
}

const TRANSIENT_NET = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);
/** Errors of a connection that was never made: the request cannot have reached the server. */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function codeOf(err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; extendedCode?: unknown };
  return `${typeof e.extendedCode === 'string' ? e.extendedCode : ''} ${typeof e.code === 'string' ? e.code : ''}`;
}

/** Maps any driver or policy error to a DbError (keeping the failing statement's index). */
export function classifyDbError(err: unknown): DbError {
  if (err instanceof DbError) return err;
  const index = (err as { statementIndex?: unknown } | null | undefined)?.statementIndex;
  const at = { cause: err, statementIndex: typeof index === 'number' ? index : undefined };
  if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
    return new DbError('circuit_open', 'database circuit breaker is open', undefined, at);
  }
  if (err instanceof BulkheadRejectedError) {
    return new DbError('overloaded', 'database pool queue is full', undefined, at);
  }
  if (err instanceof TaskCancelledError) {
    return new DbError('timeout', 'database operation timed out', undefined, at);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (message.includes(GUARD_FAILED))
    return new DbError('precondition', 'write precondition failed', undefined, at);
  const code = codeOf(err);
  const cause = (err as { cause?: { code?: unknown } } | null | undefined)?.cause;
  const netCode = typeof cause?.code === 'string' ? cause.code : code.trim();
  // An embedded replica reports a lost primary as text: `WriteDelegation(status: Unavailable, …)`, `Replication(…)`.
  const replicaLost =
    /WriteDelegation\(status: (Unavailable|DeadlineExceeded)|Replication\(|tcp connect error/.test(message);
  if (
    TRANSIENT_NET.has(netCode) ||
    replicaLost ||
    /fetch failed|socket hang up|other side closed/i.test(message)
  ) {
    return new DbError('connection', 'database connection failed', netCode, at);
  }
  if ((err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError') {
    return new DbError('timeout', 'database operation timed out', undefined, at);
  }
  if (/SQLITE_BUSY|SQLITE_LOCKED|database is locked/.test(code + message)) {
    return new DbError('busy', 'database is busy', undefined, at);
  }
  // Another connection changed the schema while this statement re-prepared (a model's first index, on the
  // embedded file: "vtable constructor failed: episodes_fts"). Nothing ran; the same call succeeds next time.
  if (/SQLITE_SCHEMA/.test(code)) {
    return new DbError('busy', 'database schema changed under the statement', undefined, at);
  }
  if (/SQLITE_CONSTRAINT/.test(code + message)) {
    return new DbError('constraint', 'constraint violated', message, at);
  }
  if (/SERVER_ERROR|HRANA_|STREAM_EXPIRED|HTTP status 5\d\d|SQLITE_IOERR/.test(code + message)) {
    return new DbError('server', 'database server error', undefined, at);
  }
  if (
    /CLIENT_CLOSED|database connection is not open|client is closed|database is closed/.test(code + message)
  ) {
    return new DbError('closed', 'database is closed', undefined, at);
  }
  return new DbError('sql', 'database error', message, at);
}

/** Worth another attempt: the same call may succeed soon (SPEC §5). */
export const isTransient = (err: DbError): boolean =>
  err.kind === 'busy' || err.kind === 'connection' || err.kind === 'server';

/**
 * Counts against the breaker: the database looks unhealthy (timeouts included, RELIABILITY R7). BUSY does not:
 * the server answered, another writer held the lock (sqld answers BUSY to every writer waiting at its periodic
 * checkpoint), and opening the breaker would turn seconds of contention into a minute of 503s.
 */
export const countsAgainstBreaker = (err: DbError): boolean =>
  err.kind === 'connection' || err.kind === 'server' || err.kind === 'timeout';

/** The database did not answer the call (down, stalled, busy, breaker open, pool full, closing): say 503, retry later. */
export const isUnavailable = (err: DbError): boolean =>
  countsAgainstBreaker(err) ||
  err.kind === 'busy' ||
  err.kind === 'circuit_open' ||
  err.kind === 'overloaded' ||
  err.kind === 'closed';

/**
 * A write that failed this way may still have committed: the request may have reached the database (a
 * connection lost after sending, a server error, a deadline that passed while it ran).
 */
export const mayHaveCommitted = (err: DbError): boolean =>
  err.kind === 'timeout' ||
  err.kind === 'server' ||
  (err.kind === 'connection' && !NEVER_SENT.has(err.detail ?? ''));

/** Worth another attempt for a write without a claim: the failure proves that it did not commit. */
export const isRetryableWrite = (err: DbError): boolean =>
  err.kind === 'busy' || (err.kind === 'connection' && !mayHaveCommitted(err));

/** Worth another attempt for a write with a claim: a retry of a committed one only recalls its result. */
export const isRetryableClaimedWrite = (err: DbError): boolean => isTransient(err) || err.kind === 'timeout';
