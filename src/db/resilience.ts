import { AsyncResource } from 'node:async_hooks';
import {
  BrokenCircuitError,
  type BulkheadPolicy,
  bulkhead,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  type RetryPolicy,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
} from 'cockatiel';
import {
  classifyDbError,
  countsAgainstBreaker,
  DbError,
  isRetryableClaimedWrite,
  isRetryableWrite,
  isTransient,
  mayHaveCommitted,
} from './errors.js';

export interface ResilienceOptions {
  poolSize: number;
  queueSize: number;
  /** Deadline of one call, from its arrival. */
  timeoutMs: number;
  retry: { maxAttempts: number; initialBackoffMs: number; maxBackoffMs: number; multiplier: number };
  /**
   * `openMs` is the longest the circuit stays open before a probe; the first open period is `initialOpenMs`
   * (default `openMs`) and doubles after each failed probe, so a short outage costs a short wait.
   */
  breaker: {
    failureThreshold: number;
    successThreshold: number;
    openMs: number;
    initialOpenMs?: number;
    halfOpenMaxCalls: number;
  };
}

const NEVER_ABORTED = new AbortController().signal;
// abortOnReturn: false — aborting on every success would build a DOMException (with a stack) per call.
const TIMEOUT_OPTIONS = { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false } as const;

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface ResilienceEvents {
  onRetry?(err: DbError): void;
  onBreak?(): void;
  onError?(err: DbError): void;
}

export interface BreakerSnapshot {
  state: BreakerState;
  failure_count: number;
  last_failure_at: string | null;
}

export interface PoolSnapshot {
  size: number;
  in_use: number;
  queued: number;
  total_acquired: number;
}

/**
 * How a call may be retried. `read`: on transient errors. `write`: only when the failure proves it did not
 * commit (BUSY, a connection never made). `claimed_write` (its first statement is a claim, see CLAIM): also
 * when the outcome is unknown, since a retry of a committed write only meets its claim.
 */
export type CallKind = 'read' | 'write' | 'claimed_write';

const RETRYABLE: Record<CallKind, (err: DbError) => boolean> = {
  read: isTransient,
  write: isRetryableWrite,
  claimed_write: isRetryableClaimedWrite,
};

/**
 * The one policy every database call goes through (SPEC §5):
 * retry → circuit breaker → timeout → bulkhead (the pool) → timeout → call.
 * The retry is outermost so that backoff waits hold no pool slot and an open circuit is never retried.
 */
export class ResiliencePolicy {
  private readonly retries: Record<CallKind, RetryPolicy>;
  private readonly breaker: HalfOpenLimitedBreaker;
  private readonly pool: BulkheadPolicy;
  private acquired = 0;

  constructor(
    private readonly options: ResilienceOptions,
    private readonly events: ResilienceEvents = {},
  ) {
    const r = options.retry;
    const retryOn = (kind: CallKind) => {
      const policy = retry(
        handleWhen((e) => RETRYABLE[kind](classifyDbError(e))),
        {
          // cockatiel counts retries, the configuration counts calls (SPEC: max_attempts 3 = 3 calls).
          maxAttempts: r.maxAttempts - 1,
          backoff: new ExponentialBackoff({
            initialDelay: r.initialBackoffMs,
            maxDelay: r.maxBackoffMs,
            exponent: r.multiplier,
          }),
        },
      );
      policy.onRetry((e) => {
        if ('error' in e) events.onRetry?.(classifyDbError(e.error));
      });
      return policy;
    };
    this.retries = {
      read: retryOn('read'),
      write: retryOn('write'),
      claimed_write: retryOn('claimed_write'),
    };
    this.breaker = new HalfOpenLimitedBreaker(options.breaker, () => events.onBreak?.());
    this.pool = bulkhead(options.poolSize, options.queueSize);
  }

  /**
   * Runs `fn` under the policy; rejects with a classified DbError. `synchronous`: the call runs to its end
   * on this thread before any timer could fire, so a deadline would only cost ≈10 µs (embedded reads).
   * A write whose attempts end while an earlier attempt may have committed rejects with `outcome_unknown`:
   * never with an error that says it failed.
   */
  async execute<T>(
    fn: (signal: AbortSignal) => Promise<T>,
    { synchronous = false, kind = 'read' as CallKind, unbounded = false } = {},
  ): Promise<T> {
    // A call that waits for a pool slot is started by whichever call frees the slot; run in this scope, it keeps
    // its own caller's async context (which request it serves, whether it may read from a replica), not theirs.
    // (runInAsyncScope rather than AsyncResource.bind: Node 20's bind builds a deprecation getter on every call.)
    const scope = new AsyncResource('engram.db.call');
    const call = async (signal: AbortSignal) => {
      this.acquired++;
      try {
        return await scope.runInAsyncScope(fn, undefined, signal);
      } catch (err) {
        throw classifyDbError(err);
      }
    };
    // The deadline runs from arrival: time queued for a pool slot counts against it, and a call that hangs
    // gives its slot back when the deadline passes.
    const { timeoutMs } = this.options;
    // Unbounded: start-up work (a migration), which takes as long as it takes.
    const pooled =
      synchronous || unbounded
        ? () => this.pool.execute(() => call(NEVER_ABORTED))
        : () => {
            const arrival = Date.now();
            return this.pool.execute(() => {
              const left = timeoutMs - (Date.now() - arrival);
              if (left <= 0) throw new TaskCancelledError('timed out waiting for the database pool');
              return timeout(left, TIMEOUT_OPTIONS).execute(({ signal }) => call(signal));
            });
          };
    // Whether an attempt that may have committed is still unaccounted for: an answer from the database to a
    // later attempt settles it (a claim would have met the committed write, so any answer is the truth).
    let unsettled = false;
    const attempt = async () => {
      try {
        const result = await pooled();
        unsettled = false;
        return result;
      } catch (err) {
        const dbErr = classifyDbError(err);
        if (kind !== 'read' && mayHaveCommitted(dbErr)) unsettled = true;
        else if (answeredByDatabase(dbErr)) unsettled = false;
        throw dbErr;
      }
    };
    try {
      return await this.retries[kind].execute(() => this.breaker.execute(attempt));
    } catch (err) {
      let dbErr = classifyDbError(err);
      if (unsettled) {
        dbErr = new DbError('outcome_unknown', 'the write may or may not have committed', dbErr.kind, {
          cause: dbErr,
        });
      }
      this.events.onError?.(dbErr);
      throw dbErr;
    }
  }

  get breakerSnapshot(): BreakerSnapshot {
    return this.breaker.snapshot();
  }

  get poolSnapshot(): PoolSnapshot {
    const { poolSize, queueSize } = this.options;
    return {
      size: poolSize,
      in_use: poolSize - this.pool.executionSlots,
      queued: queueSize - this.pool.queueSlots,
      total_acquired: this.acquired,
    };
  }

  /** Seconds a client should wait before retrying after a 503. */
  retryAfterSeconds(): number {
    return this.breaker.secondsUntilHalfOpen() ?? 1;
  }

  dispose(): void {
    this.breaker.dispose();
  }
}

/** The database itself answered: the attempt reached it and got a definite result. */
const answeredByDatabase = (err: DbError): boolean =>
  err.kind === 'constraint' || err.kind === 'precondition' || err.kind === 'sql';

/**
 * cockatiel's breaker opens after N consecutive failures and half-opens after a delay, but it closes after
 * ONE successful test call and makes other half-open calls wait for that test. The original's semantics
 * (SPEC §5) are added here: up to `halfOpenMaxCalls` concurrent probes (the rest fail fast), and
 * `successThreshold` successes in a row before the circuit counts as closed; a failure while recovering
 * reopens it (held open with cockatiel's `isolate()`). Each open period is twice the previous one, from
 * `initialOpenMs` up to `openMs`, until the circuit closes for good.
 */
class HalfOpenLimitedBreaker {
  private readonly inner;
  private recovering = false;
  private successes = 0;
  private probes = 0;
  private consecutiveFailures = 0;
  private lastFailureAt: number | null = null;
  private openedAt = 0;
  /** Opens since the circuit last closed for good, and the length of the current open period. */
  private opens = 0;
  private openPeriodMs = 0;
  private isolation: { dispose(): void } | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: ResilienceOptions['breaker'],
    private readonly onBreak: () => void,
  ) {
    this.inner = circuitBreaker(
      handleWhen((e) => countsAgainstBreaker(classifyDbError(e))),
      {
        halfOpenAfter: new CurrentOpenPeriod(() => this.openPeriodMs),
        breaker: new ConsecutiveBreaker(options.failureThreshold),
      },
    );
    this.inner.onBreak(() => this.opened());
    this.inner.onReset(() => {
      // After cockatiel's successful test call, or at the end of our isolation: recovering, and `execute`
      // counts each success (the test call's included) towards the threshold.
      this.recovering = true;
      this.successes = 0;
    });
  }

  state(): BreakerState {
    const s = this.inner.state;
    if (s === CircuitState.Open || s === CircuitState.Isolated) return 'open';
    if (s === CircuitState.HalfOpen || this.recovering) return 'half_open';
    return 'closed';
  }

  snapshot(): BreakerSnapshot {
    return {
      state: this.state(),
      failure_count: this.consecutiveFailures,
      last_failure_at: this.lastFailureAt === null ? null : new Date(this.lastFailureAt).toISOString(),
    };
  }

  secondsUntilHalfOpen(): number | null {
    if (this.state() !== 'open') return null;
    const left = this.openedAt + this.openPeriodMs - Date.now();
    return Math.max(1, Math.ceil(left / 1000));
  }

  async execute<T>(fn: () => Promise<T>): Promise<T> {
    const limited = this.state() === 'half_open' || this.halfOpenDue();
    if (limited && this.probes >= this.options.halfOpenMaxCalls) throw new BrokenCircuitError();
    if (limited) this.probes++;
    try {
      const result = await this.inner.execute(fn);
      this.consecutiveFailures = 0;
      if (this.recovering) {
        this.successes++;
        this.settle();
      }
      return result;
    } catch (err) {
      const dbErr = classifyDbError(err);
      if (countsAgainstBreaker(dbErr)) {
        this.consecutiveFailures++;
        this.lastFailureAt = Date.now();
        if (this.recovering) this.reopen();
      }
      throw err;
    } finally {
      if (limited) this.probes--;
    }
  }

  dispose(): void {
    clearTimeout(this.reopenTimer);
  }

  private halfOpenDue(): boolean {
    return this.inner.state === CircuitState.Open && Date.now() - this.openedAt >= this.openPeriodMs;
  }

  private settle(): void {
    if (this.successes < this.options.successThreshold) return;
    this.recovering = false;
    this.opens = 0;
  }

  private opened(): void {
    const { openMs, initialOpenMs = openMs } = this.options;
    this.recovering = false;
    this.openedAt = Date.now();
    this.opens++;
    this.openPeriodMs = Math.min(openMs, initialOpenMs * 2 ** (this.opens - 1));
    this.onBreak();
  }

  private reopen(): void {
    if (this.isolation) return;
    this.isolation = this.inner.isolate(); // emits onBreak → opened()
    this.reopenTimer = setTimeout(() => {
      this.isolation?.dispose();
      this.isolation = undefined;
    }, this.openPeriodMs);
    this.reopenTimer.unref();
  }
}

/** cockatiel's half-open delay, read from the breaker's current open period whenever a call finds it open. */
class CurrentOpenPeriod implements IBackoff<unknown> {
  constructor(private readonly periodMs: () => number) {}

  get duration(): number {
    return this.periodMs();
  }

  next(): IBackoff<unknown> {
    return this;
  }
}
