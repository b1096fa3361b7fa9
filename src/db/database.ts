import type { DatabaseMode } from '../config.js';
import { classifyDbError, DbError } from './errors.js';
import type { CallKind, ResiliencePolicy } from './resilience.js';
import {
  isClaimed,
  type Row,
  type SqlDriver,
  type SqlValue,
  type Statement,
  type StatementResult,
} from './types.js';

export type Operation = 'read' | 'scan' | 'write' | 'write_group' | 'ping' | 'sync';

export interface DatabaseObserver {
  operation(operation: Operation, outcome: string, seconds: number): void;
}

interface PendingWrite {
  stmts: readonly Statement[];
  resolve(results: StatementResult[]): void;
  reject(err: DbError): void;
}

/** The error of a failed write, with the label of the statement that failed (when the driver said which). */
function failureOf(err: unknown, stmts: readonly Statement[]): DbError {
  const dbErr = classifyDbError(err);
  const index = dbErr.statementIndex;
  if (index !== undefined && dbErr.label === undefined) dbErr.label = stmts[index]?.label;
  return dbErr;
}

/**
 * What repositories see of libSQL: reads and atomic writes, every one through the shared resilience policy.
 * Where the driver supports it (the embedded file), concurrent writes are coalesced into one transaction
 * (group commit): one fsync for many requests, each acknowledged only after its commit, each isolated
 * from its neighbours' failures by a savepoint.
 */
export class Database {
  private readonly pending: PendingWrite[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private lastSyncAt: number | null = null;
  private writesInFlight = 0;

  constructor(
    private readonly driver: SqlDriver,
    readonly policy: ResiliencePolicy,
    private readonly options: {
      writeBatchMax: number;
      writeQueueMax: number;
      /** Deadline of a background read (see `readInBackground`). */
      backgroundTimeoutMs: number;
      observer?: DatabaseObserver;
    },
  ) {}

  get mode(): DatabaseMode {
    return this.driver.mode;
  }

  get lastSync(): string | null {
    return this.lastSyncAt === null ? null : new Date(this.lastSyncAt).toISOString();
  }

  /** A point read: on the embedded file it runs on this thread (it is short). */
  read(text: string, args: readonly SqlValue[] = []): Promise<Row[]> {
    return this.run('read', () => this.driver.query({ sql: text, args }), {
      synchronous: this.driver.synchronousReads,
    });
  }

  /** A long read (a page of records with their children, a scan): off the event loop where the driver can. */
  scan(text: string, args: readonly SqlValue[] = []): Promise<Row[]> {
    const scan = this.driver.scan?.bind(this.driver);
    if (!scan) return this.read(text, args);
    return this.run('scan', () => scan({ sql: text, args }));
  }

  /**
   * A read through the write path: on the embedded file it runs on the writer thread after every write
   * sent before it; on a remote database it runs in a write transaction, so the primary answers even
   * where reads come from a replica. For reads that must see a write that just committed.
   */
  async readLatest(text: string, args: readonly SqlValue[] = []): Promise<Row[]> {
    const [result] = await this.run('read', () => this.driver.transaction([{ sql: text, args }]));
    return result?.rows ?? [];
  }

  /**
   * A read for housekeeping (metrics): off the event loop like `scan`, but outside the policy — its
   * failures and timeouts never count against the breaker nor take a pool slot from requests.
   */
  async readInBackground(text: string, args: readonly SqlValue[] = []): Promise<Row[]> {
    const stmt = { sql: text, args };
    const read = this.driver.scan ? this.driver.scan(stmt) : this.driver.query(stmt);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DbError('timeout', 'background read timed out')),
        this.options.backgroundTimeoutMs,
      );
    });
    try {
      return await Promise.race([read, deadline]);
    } catch (err) {
      throw classifyDbError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the statements atomically. Rejects with a DbError that carries the failing statement's label;
   * kind `precondition` for a failed guard, `outcome_unknown` when it may have committed after all. A write
   * that starts with a claim (see CLAIM) is retried even when an attempt's outcome is unknown.
   */
  write(stmts: readonly Statement[]): Promise<StatementResult[]> {
    this.writesInFlight++;
    return this.writeNow(stmts).finally(() => {
      this.writesInFlight--;
    });
  }

  /**
   * Start-up work (migrations): one transaction, through the policy (retries, breaker, pool) but without its
   * deadline, nor the driver's own: a migration that rebuilds a big table takes as long as it takes (cut at
   * DB_TIMEOUT_MS, it rolled back, or ran on unanswered, at every start). Not group-committed. Rejects like `write`.
   */
  writeUnbounded(stmts: readonly Statement[]): Promise<StatementResult[]> {
    this.writesInFlight++;
    return this.run('write', () => this.driver.transaction(stmts, { unbounded: true }), {
      kind: writeKind([stmts]),
      unbounded: true,
    })
      .catch((err: unknown) => {
        throw failureOf(err, stmts);
      })
      .finally(() => {
        this.writesInFlight--;
      });
  }

  /** Whether a write of this process is waiting or running (background work may let it go first). */
  get writing(): boolean {
    return this.writesInFlight > 0;
  }

  private writeNow(stmts: readonly Statement[]): Promise<StatementResult[]> {
    if (!this.driver.group) {
      return this.run('write', () => this.driver.transaction(stmts), { kind: writeKind([stmts]) }).catch(
        (err: unknown) => {
          throw failureOf(err, stmts);
        },
      );
    }
    if (this.pending.length >= this.options.writeQueueMax) {
      return Promise.reject(new DbError('overloaded', 'write queue is full'));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ stmts, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Round trip to the database; returns its latency in ms. */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.run('ping', () => this.driver.query({ sql: 'SELECT 1', args: [] }), {
      synchronous: this.driver.synchronousReads,
    });
    return performance.now() - started;
  }

  async sync(): Promise<void> {
    if (!this.driver.sync) return;
    const sync = this.driver.sync.bind(this.driver);
    await this.run('sync', () => sync());
    this.lastSyncAt = Date.now();
  }

  /** Commits what is queued, then closes the connection. */
  async close(): Promise<void> {
    while (this.flushScheduled || this.flushing || this.pending.length > 0) {
      await (this.flushing ?? new Promise((r) => setImmediate(r)));
    }
    this.policy.dispose();
    await this.driver.close();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    // Let every request already read off the sockets join this group before it commits.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        // A write queued after the loop's last check but before this callback must not be stranded.
        if (this.pending.length > 0) this.scheduleFlush();
      });
    });
  }

  private async flush(): Promise<void> {
    const group = this.driver.group?.bind(this.driver);
    if (!group) return;
    await this.driver.ready?.().catch(() => undefined); // a failed start surfaces as the group's error
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.writeBatchMax);
      const jobs = batch.map((w) => w.stmts);
      try {
        // A retried group meets the claims of the jobs an earlier attempt committed: they fail alone.
        const outcomes = await this.run('write_group', () => group(jobs), { kind: writeKind(jobs) });
        outcomes.forEach((outcome, i) => {
          const w = batch[i] as PendingWrite;
          if (outcome instanceof Error) w.reject(failureOf(outcome, w.stmts));
          else w.resolve(outcome);
        });
      } catch (err) {
        const dbErr = classifyDbError(err);
        for (const w of batch) w.reject(dbErr);
      }
    }
  }

  private async run<T>(
    operation: Operation,
    fn: () => Promise<T>,
    options: { synchronous?: boolean | undefined; kind?: CallKind; unbounded?: boolean } = {},
  ): Promise<T> {
    const started = performance.now();
    try {
      const result = await this.policy.execute(fn, {
        synchronous: options.synchronous ?? false,
        kind: options.kind ?? 'read',
        unbounded: options.unbounded ?? false,
      });
      this.options.observer?.operation(operation, 'success', (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const dbErr = classifyDbError(err);
      this.options.observer?.operation(operation, dbErr.kind, (performance.now() - started) / 1000);
      throw dbErr;
    }
  }
}

/** Writes whose every transaction starts with a claim may be retried whatever happened before. */
const writeKind = (jobs: readonly (readonly Statement[])[]): CallKind =>
  jobs.every(isClaimed) ? 'claimed_write' : 'write';
