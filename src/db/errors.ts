import {
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  TaskCancelledError,
} from 'cockatiel';

/** Why a database call failed, as the rest of the service needs to know it (driver types never leak). */
export type DbErrorKind =
  | 'precondition' // an ENGRAM_ASSERT guard statement failed: the write's precondition did not hold
  | 'constraint' // a UNIQUE / FOREIGN KEY / CHECK constraint
  | 'busy' // SQLITE_BUSY / locked
  | 'connection' // refused, reset, DNS, socket errors
  | 'server' // remote 5xx / stream errors
  | 'timeout' // the policy's deadline
  | 'circuit_open'
  | 'overloaded' // the pool queue is full
  | 'closed'
  | 'sql'; // everything else: a bug or bad SQL, never retried

export class DbError extends Error {
  override name = 'DbError';
  constructor(
    readonly kind: DbErrorKind,
    message: string,
    readonly detail?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
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
const ASSERT = /ENGRAM_ASSERT:([A-Z_]+)/;

function codeOf(err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; extendedCode?: unknown };
  return `${typeof e.extendedCode === 'string' ? e.extendedCode : ''} ${typeof e.code === 'string' ? e.code : ''}`;
}

/** Maps any driver or policy error to a DbError. */
export function classifyDbError(err: unknown): DbError {
  if (err instanceof DbError) return err;
  if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
    return new DbError('circuit_open', 'database circuit breaker is open', undefined, { cause: err });
  }
  if (err instanceof BulkheadRejectedError) {
    return new DbError('overloaded', 'database pool queue is full', undefined, { cause: err });
  }
  if (err instanceof TaskCancelledError) {
    return new DbError('timeout', 'database operation timed out', undefined, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  const assertion = ASSERT.exec(message);
  if (assertion)
    return new DbError('precondition', 'write precondition failed', assertion[1], { cause: err });
  const code = codeOf(err);
  const cause = (err as { cause?: { code?: unknown } } | null | undefined)?.cause;
  const netCode = typeof cause?.code === 'string' ? cause.code : code.trim();
  // An embedded replica reports a lost primary as text: `WriteDelegation(status: Unavailable, …)`, `Replication(…)`.
  const replicaLost =
    /WriteDelegation\(status: (Unavailable|DeadlineExceeded)|Replication\(|tcp connect error/.test(message);
  if (TRANSIENT_NET.has(netCode) || replicaLost || /fetch failed|socket hang up/i.test(message)) {
    return new DbError('connection', 'database connection failed', netCode, { cause: err });
  }
  if ((err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError') {
    return new DbError('timeout', 'database operation timed out', undefined, { cause: err });
  }
  if (/SQLITE_BUSY|SQLITE_LOCKED|database is locked/.test(code + message)) {
    return new DbError('busy', 'database is busy', undefined, { cause: err });
  }
  if (/SQLITE_CONSTRAINT/.test(code + message)) {
    return new DbError('constraint', 'constraint violated', message, { cause: err });
  }
  if (/SERVER_ERROR|HRANA_|STREAM_EXPIRED|HTTP status 5\d\d|SQLITE_IOERR/.test(code + message)) {
    return new DbError('server', 'database server error', undefined, { cause: err });
  }
  if (
    /CLIENT_CLOSED|database connection is not open|client is closed|database is closed/.test(code + message)
  ) {
    return new DbError('closed', 'database is closed', undefined, { cause: err });
  }
  return new DbError('sql', 'database error', message, { cause: err });
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
