import { LibsqlBatchError, LibsqlError } from '@libsql/client';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  TaskCancelledError,
} from 'cockatiel';
import { describe, expect, it } from 'vitest';
import {
  classifyDbError,
  countsAgainstBreaker,
  DbError,
  type DbErrorKind,
  isTransient,
} from '../../src/db/errors.js';

// Every driver or policy error becomes a DbError whose kind decides retry, breaker and HTTP status.

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });
const fetchFailed = (code: string) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });

const CASES: [string, unknown, DbErrorKind][] = [
  // the policy's own errors
  ['cockatiel BrokenCircuitError', new BrokenCircuitError(), 'circuit_open'],
  ['cockatiel IsolatedCircuitError', new IsolatedCircuitError(), 'circuit_open'],
  ['cockatiel BulkheadRejectedError', new BulkheadRejectedError(1, 0), 'overloaded'],
  ['cockatiel TaskCancelledError (policy deadline)', new TaskCancelledError(), 'timeout'],
  // guards
  [
    'ENGRAM_GUARD raised by the guard trigger',
    coded('ENGRAM_GUARD', 'SQLITE_CONSTRAINT_TRIGGER'),
    'precondition',
  ],
  [
    'ENGRAM_GUARD from sqld (LibsqlBatchError)',
    new LibsqlBatchError('SQLite error: ENGRAM_GUARD', 2, 'SQLITE_CONSTRAINT'),
    'precondition',
  ],
  // constraints (native libsql and @libsql/client spellings)
  [
    'native SQLITE_CONSTRAINT_PRIMARYKEY',
    coded('UNIQUE constraint failed: t.id', 'SQLITE_CONSTRAINT_PRIMARYKEY'),
    'constraint',
  ],
  [
    'native SQLITE_CONSTRAINT_FOREIGNKEY',
    coded('FOREIGN KEY constraint failed', 'SQLITE_CONSTRAINT_FOREIGNKEY'),
    'constraint',
  ],
  [
    'LibsqlError with extendedCode SQLITE_CONSTRAINT_UNIQUE',
    new LibsqlError('UNIQUE constraint failed: t.v', 'SQLITE_CONSTRAINT', 'SQLITE_CONSTRAINT_UNIQUE', 2067),
    'constraint',
  ],
  // busy
  ['native SQLITE_BUSY', coded('database is locked', 'SQLITE_BUSY'), 'busy'],
  ['SQLITE_LOCKED', coded('database table is locked', 'SQLITE_LOCKED'), 'busy'],
  ['LibsqlError SQLITE_BUSY', new LibsqlError('database is locked', 'SQLITE_BUSY'), 'busy'],
  [
    "SQLITE_SCHEMA (a re-prepare that met another connection's schema change)",
    coded('vtable constructor failed: episodes_fts', 'SQLITE_SCHEMA'),
    'busy',
  ],
  // connection
  ['fetch failed / ECONNREFUSED (sqld down)', fetchFailed('ECONNREFUSED'), 'connection'],
  ['fetch failed / ECONNRESET', fetchFailed('ECONNRESET'), 'connection'],
  ['fetch failed / UND_ERR_SOCKET', fetchFailed('UND_ERR_SOCKET'), 'connection'],
  ['bare ECONNREFUSED code', coded('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), 'connection'],
  ['socket hang up', new Error('socket hang up'), 'connection'],
  // deadlines of the remote client's fetch
  [
    'AbortSignal.timeout reason (TimeoutError)',
    new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    'timeout',
  ],
  ['AbortError', new DOMException('This operation was aborted', 'AbortError'), 'timeout'],
  // server
  ['Hrana SERVER_ERROR', new LibsqlError('Server returned HTTP status 503', 'SERVER_ERROR'), 'server'],
  ['HTTP status 502 in the message', new Error('Server returned HTTP status 502'), 'server'],
  ['STREAM_EXPIRED', new LibsqlError('stream expired', 'STREAM_EXPIRED'), 'server'],
  ['SQLITE_IOERR', coded('disk I/O error', 'SQLITE_IOERR'), 'server'],
  // closed
  ['CLIENT_CLOSED', new LibsqlError('The client is closed', 'CLIENT_CLOSED'), 'closed'],
  ['native connection not open', new TypeError('The database connection is not open'), 'closed'],
  // everything else: a bug or bad SQL
  ['native SQLITE_ERROR no such table', coded('no such table: nope', 'SQLITE_ERROR'), 'sql'],
  ['SQL syntax error', coded('near "SELEC": syntax error', 'SQLITE_ERROR'), 'sql'],
  // a bug that merely mentions the word "closed" is still a bug (500), not an outage (503)
  ['SQLITE_ERROR naming a column closed_at', coded('no such column: closed_at', 'SQLITE_ERROR'), 'sql'],
  ['plain Error', new Error('boom'), 'sql'],
  ['a thrown string', 'boom', 'sql'],
  ['a thrown object without code', { message: 'weird' }, 'sql'],
];

describe('classifyDbError', () => {
  it.each(CASES)('classifyDbError - %s - kind as expected', (_name, err, kind) => {
    const classified = classifyDbError(err);
    expect(classified).toBeInstanceOf(DbError);
    expect(classified.kind).toBe(kind);
    expect(classified.cause).toBe(err);
  });

  it('classifyDbError - already a DbError - returned as is', () => {
    const err = new DbError('overloaded', 'write queue is full');
    expect(classifyDbError(err)).toBe(err);
  });

  it('classifyDbError - a driver that says which statement failed - the index is kept', () => {
    expect(
      classifyDbError(
        Object.assign(coded('ENGRAM_GUARD', 'SQLITE_CONSTRAINT_TRIGGER'), { statementIndex: 3 }),
      ).statementIndex,
    ).toBe(3);
    const batch = new LibsqlBatchError('UNIQUE constraint failed: t.id', 0, 'SQLITE_CONSTRAINT');
    expect(classifyDbError(batch)).toMatchObject({ kind: 'constraint', statementIndex: 0 });
    expect(
      classifyDbError(coded('UNIQUE constraint failed: t.id', 'SQLITE_CONSTRAINT')).statementIndex,
    ).toBeUndefined();
  });

  it('classifyDbError - constraint - detail keeps the driver message (migrations match on it)', () => {
    const err = coded('UNIQUE constraint failed: schema_migrations.version', 'SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(classifyDbError(err).detail).toContain('schema_migrations');
  });

  it('classifyDbError - connection error - detail is the network code of the cause', () => {
    expect(classifyDbError(fetchFailed('ECONNREFUSED')).detail).toBe('ECONNREFUSED');
  });

  it('classifyDbError - SQL error - public message generic, driver message only in detail', () => {
    const classified = classifyDbError(coded('no such table: secret_internal', 'SQLITE_ERROR'));
    expect(classified.message).toBe('database error');
    expect(classified.detail).toBe('no such table: secret_internal');
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
  ])('classifyDbError - %s thrown by a driver - still a DbError of kind sql', (_name, value) => {
    // A library may `throw undefined`; the classifier is the last line before a 500 and must not throw itself.
    const classified = classifyDbError(value);
    expect(classified).toBeInstanceOf(DbError);
    expect(classified.kind).toBe('sql');
  });
});

describe('isTransient and countsAgainstBreaker', () => {
  const ALL: DbErrorKind[] = [
    'precondition',
    'constraint',
    'busy',
    'connection',
    'server',
    'timeout',
    'circuit_open',
    'overloaded',
    'closed',
    'sql',
  ];

  it('isTransient - every kind - only busy, connection and server are retried', () => {
    const transient = ALL.filter((kind) => isTransient(new DbError(kind, kind)));
    expect(transient.sort()).toEqual(['busy', 'connection', 'server']);
  });

  it('countsAgainstBreaker - every kind - an unreachable or failing server and timeouts; not BUSY (contention), nothing caused by the request', () => {
    const counted = ALL.filter((kind) => countsAgainstBreaker(new DbError(kind, kind)));
    expect(counted.sort()).toEqual(['connection', 'server', 'timeout']);
  });
});
