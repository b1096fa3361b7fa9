import { AsyncLocalStorage } from 'node:async_hooks';
import { classifyDbError, type DbError } from './errors.js';
import type { HranaReader } from './hrana-reader.js';
import type { ResiliencePolicy } from './resilience.js';
import type { Row, SqlDriver, Statement, StatementResult } from './types.js';

interface ReplicaRead {
  /** The replica must have reached this replication index (a consistency token) before it answers. */
  minIndex: number | null;
}

const replicaReads = new AsyncLocalStorage<ReplicaRead>();

/**
 * Runs `fn` with its reads allowed on the read replica, once the replica has reached `minIndex`. Only a read-only
 * request opts in (the HTTP layer does it for GET): reads that a write depends on — the current version, the
 * stored idempotent response — always go to the primary. Carried by async context rather than through every
 * service and repository signature, because it is a property of the request, not of any one query.
 */
export function readingFromReplica<T>(minIndex: number | null, fn: () => T): T {
  return replicaReads.run({ minIndex }, fn);
}

export type ReplicaReadOutcome = 'replica' | 'primary_fallback';

/**
 * The primary's driver with a read replica beside it: reads inside `readingFromReplica` go to the replica
 * through its own resilience policy (its deadline is how long a read may wait for the replica to answer and to
 * catch up); when the replica fails or lags past that deadline, the read goes to the primary instead. Everything
 * else — writes, reads outside a replica context, the health probe — goes to the primary.
 */
export class ReplicaRoutingDriver implements SqlDriver {
  readonly mode;
  readonly group?: SqlDriver['group'];
  readonly ready?: SqlDriver['ready'];

  constructor(
    private readonly primary: SqlDriver,
    private readonly replica: HranaReader,
    private readonly replicaPolicy: ResiliencePolicy,
    private readonly onRead: (outcome: ReplicaReadOutcome, err?: DbError) => void = () => {},
  ) {
    this.mode = primary.mode;
    if (primary.group) this.group = primary.group.bind(primary);
    if (primary.ready) this.ready = primary.ready.bind(primary);
  }

  async query(stmt: Statement): Promise<Row[]> {
    const route = replicaReads.getStore();
    if (!route) return this.primary.query(stmt);
    try {
      const rows = await this.replicaPolicy.execute((signal) =>
        this.replica.query(stmt, { minIndex: route.minIndex, signal }),
      );
      this.onRead('replica');
      return rows;
    } catch (err) {
      // Whatever went wrong there (down, lagging, or even a schema the replica has not caught up with),
      // the primary has the answer; a genuinely bad statement fails there the same way.
      this.onRead('primary_fallback', classifyDbError(err));
      return this.primary.query(stmt);
    }
  }

  transaction(stmts: readonly Statement[], options?: { unbounded?: boolean }): Promise<StatementResult[]> {
    return this.primary.transaction(stmts, options);
  }

  async close(): Promise<void> {
    this.replicaPolicy.dispose();
    await this.primary.close();
  }
}
