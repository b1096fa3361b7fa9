import type { DatabaseMode } from '../config.js';
import { classifyDbError, DbError } from './errors.js';
import type { ResiliencePolicy } from './resilience.js';
import type { Row, SqlDriver, SqlValue, Statement, StatementResult } from './types.js';

export type Operation = 'read' | 'write' | 'write_group' | 'ping' | 'sync';

export interface DatabaseObserver {
  operation(operation: Operation, outcome: string, seconds: number): void;
}

interface PendingWrite {
  stmts: readonly Statement[];
  resolve(results: StatementResult[]): void;
  reject(err: DbError): void;
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

  constructor(
    private readonly driver: SqlDriver,
    readonly policy: ResiliencePolicy,
    private readonly options: { writeBatchMax: number; writeQueueMax: number; observer?: DatabaseObserver },
  ) {}

  get mode(): DatabaseMode {
    return this.driver.mode;
  }

  get lastSync(): string | null {
    return this.lastSyncAt === null ? null : new Date(this.lastSyncAt).toISOString();
  }

  read(text: string, args: readonly SqlValue[] = []): Promise<Row[]> {
    return this.run('read', () => this.driver.query({ sql: text, args }), this.driver.synchronousReads);
  }

  /** Runs the statements atomically; rejects with a DbError (kind `precondition` for a failed guard). */
  write(stmts: readonly Statement[]): Promise<StatementResult[]> {
    if (!this.driver.group) return this.run('write', () => this.driver.transaction(stmts));
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
    await this.run(
      'ping',
      () => this.driver.query({ sql: 'SELECT 1', args: [] }),
      this.driver.synchronousReads,
    );
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
      try {
        const outcomes = await this.run('write_group', () => group(batch.map((w) => w.stmts)));
        outcomes.forEach((outcome, i) => {
          const w = batch[i] as PendingWrite;
          if (outcome instanceof Error) w.reject(classifyDbError(outcome));
          else w.resolve(outcome);
        });
      } catch (err) {
        const dbErr = classifyDbError(err);
        for (const w of batch) w.reject(dbErr);
      }
    }
  }

  private async run<T>(operation: Operation, fn: () => Promise<T>, synchronous = false): Promise<T> {
    const started = performance.now();
    try {
      const result = await this.policy.execute(fn, { synchronous });
      this.options.observer?.operation(operation, 'success', (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const dbErr = classifyDbError(err);
      this.options.observer?.operation(operation, dbErr.kind, (performance.now() - started) / 1000);
      throw dbErr;
    }
  }
}
