import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createResiliencePolicy } from '../../src/db/create-database.js';
import { DbError } from '../../src/db/errors.js';
import { type ResilienceEvents, type ResilienceOptions, ResiliencePolicy } from '../../src/db/resilience.js';
import { testConfig } from '../helpers/app.js';

// The one policy every database call goes through (SPEC §5), driven directly with fake calls.

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
const refused = () => new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
const serverError = () =>
  Object.assign(new Error('Server returned HTTP status 503'), { code: 'SERVER_ERROR' });
const constraint = () =>
  Object.assign(new Error('UNIQUE constraint failed: episodes.id'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
const sqlError = () => Object.assign(new Error('no such table: nope'), { code: 'SQLITE_ERROR' });
const precondition = () => Object.assign(new Error('ENGRAM_GUARD'), { code: 'SQLITE_CONSTRAINT_TRIGGER' });

const OPEN_MS = 100;

const policies: ResiliencePolicy[] = [];
afterEach(() => {
  for (const p of policies.splice(0)) p.dispose();
});

interface Overrides {
  poolSize?: number;
  queueSize?: number;
  timeoutMs?: number;
  retry?: Partial<ResilienceOptions['retry']>;
  breaker?: Partial<ResilienceOptions['breaker']>;
}

/** A policy with fast timings: tiny backoff, short open period. */
function makePolicy(o: Overrides = {}, events: ResilienceEvents = {}): ResiliencePolicy {
  const policy = new ResiliencePolicy(
    {
      poolSize: o.poolSize ?? 4,
      queueSize: o.queueSize ?? 4,
      timeoutMs: o.timeoutMs ?? 2_000,
      retry: { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 4, multiplier: 2, ...o.retry },
      breaker: {
        failureThreshold: 3,
        successThreshold: 2,
        openMs: OPEN_MS,
        halfOpenMaxCalls: 2,
        ...o.breaker,
      },
    },
    events,
  );
  policies.push(policy);
  return policy;
}

/** A fake database call: counts its calls, fails with `fail()` while it returns an error. */
function fakeCall(fail: (call: number) => Error | undefined = () => undefined) {
  const fn = Object.assign(
    async (_signal: AbortSignal) => {
      fn.calls++;
      const err = fail(fn.calls);
      if (err) throw err;
      return fn.calls;
    },
    { calls: 0 },
  );
  return fn;
}

/** Runs `fn` and returns its rejection as a DbError (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<DbError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(DbError);
  return outcome.error as DbError;
}

/** Time a rejected call takes, with its DbError. */
async function timedRejection(promise: () => Promise<unknown>): Promise<{ err: DbError; ms: number }> {
  const started = performance.now();
  const err = await rejection(promise());
  return { err, ms: performance.now() - started };
}

/**
 * Asserts that `n` calls all fail fast with `kind`: each rejection settles within microtasks alone, before
 * any timer, I/O or other turn of the event loop. That is what "at once" means for an open breaker or a
 * full queue, and, unlike a wall-clock bound, it does not depend on how busy the machine is. A call that
 * waits for anything (a backoff, a timeout, a pool slot) never settles this way.
 */
async function expectFastRejections(
  call: () => Promise<unknown>,
  kind: DbError['kind'],
  n = 20,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const outcome = call().then(
      () => 'resolved' as const,
      (error: unknown) => error,
    );
    expect(await settledInMicrotasks(outcome)).toBe(true);
    const error = await outcome;
    expect(error).toBeInstanceOf(DbError);
    expect((error as DbError).kind).toBe(kind);
  }
}

/** Whether `promise` settles while only microtasks run (a generous bound on their number). */
async function settledInMicrotasks(promise: Promise<unknown>, maxTicks = 1_000): Promise<boolean> {
  let settled = false;
  void promise.then(() => {
    settled = true;
  });
  for (let tick = 0; tick < maxTicks && !settled; tick++) await Promise.resolve();
  return settled;
}

/** A gate calls wait on until the test opens it; tracks how many are inside at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const g = {
    entered: 0,
    active: 0,
    maxActive: 0,
    open: () => open(),
    call: async (_signal: AbortSignal) => {
      g.entered++;
      g.active++;
      g.maxActive = Math.max(g.maxActive, g.active);
      try {
        await opened;
        return 'ok';
      } finally {
        g.active--;
      }
    },
  };
  return g;
}

/** Opens the breaker with `threshold` refused connections; returns when it opened (Date.now()). */
async function tripBreaker(policy: ResiliencePolicy, threshold: number): Promise<number> {
  const failing = fakeCall(() => refused());
  for (let i = 0; i < threshold; i++) await rejection(policy.execute(failing));
  expect(policy.breakerSnapshot.state).toBe('open');
  return Date.now();
}

/**
 * Waits until the open period has run out. The breaker only leaves "open" when a call arrives after
 * that moment (the call IS the probe), so there is no state to poll: wait for the deadline itself.
 */
async function untilHalfOpenDue(openedAt: number, openMs = OPEN_MS): Promise<void> {
  const left = openedAt + openMs - Date.now();
  if (left > -5) await sleep(left + 5);
}

/**
 * Calls `call` through the policy every 5 ms until the breaker lets one reach it; returns when that call
 * started and when it returned (the breaker admitted it in between).
 */
async function untilAdmitted(
  policy: ResiliencePolicy,
  call: ReturnType<typeof fakeCall>,
): Promise<{ startedAt: number; returnedAt: number }> {
  expect(policy.breakerSnapshot.state).toBe('open');
  const before = call.calls;
  for (;;) {
    const startedAt = Date.now();
    await policy.execute(call).catch(() => undefined);
    if (call.calls > before) return { startedAt, returnedAt: Date.now() };
    await sleep(5);
  }
}

describe('ResiliencePolicy retries', () => {
  it.each([
    ['constraint', constraint, 'constraint'],
    ['SQL error', sqlError, 'sql'],
    ['failed precondition', precondition, 'precondition'],
  ])('retry - %s - never retried: one call, classified error', async (_name, make, kind) => {
    const onRetry = vi.fn();
    const policy = makePolicy({ retry: { maxAttempts: 5 } }, { onRetry });
    const call = fakeCall(() => make());
    const err = await rejection(policy.execute(call));
    expect(err.kind).toBe(kind);
    expect(call.calls).toBe(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it.each([
    ['SQLITE_BUSY', busy, 'busy'],
    ['fetch failed / ECONNREFUSED', refused, 'connection'],
    ['server 5xx', serverError, 'server'],
  ])(
    'retry - %s every time - exactly maxAttempts calls, then the classified error',
    async (_name, make, kind) => {
      const onRetry = vi.fn();
      const policy = makePolicy(
        { retry: { maxAttempts: 3 }, breaker: { failureThreshold: 100 } },
        { onRetry },
      );
      const call = fakeCall(() => make());
      const err = await rejection(policy.execute(call));
      expect(err.kind).toBe(kind);
      expect(call.calls).toBe(3);
      expect(onRetry).toHaveBeenCalledTimes(2);
      expect(onRetry.mock.calls[0]?.[0]).toMatchObject({ kind });
    },
  );

  it('retry - busy twice then success - resolves with the third call', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 3 } });
    const call = fakeCall((n) => (n <= 2 ? busy() : undefined));
    await expect(policy.execute(call)).resolves.toBe(3);
    expect(call.calls).toBe(3);
  });

  it.each([1, 2, 5])(
    'retry - DB_RETRY_MAX_ATTEMPTS=%i from the config - that many calls in total',
    async (attempts) => {
      const config = testConfig({
        DB_RETRY_MAX_ATTEMPTS: attempts,
        DB_RETRY_INITIAL_BACKOFF_MS: 1,
        DB_RETRY_MAX_BACKOFF_MS: 2,
        DB_BREAKER_FAILURE_THRESHOLD: 100,
      });
      const policy = createResiliencePolicy(config);
      policies.push(policy);
      const call = fakeCall(() => busy());
      expect((await rejection(policy.execute(call))).kind).toBe('busy');
      expect(call.calls).toBe(attempts);
    },
  );

  it('retry - breaker opens during the retries - stops at once with circuit_open (an open circuit is not retried)', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 5 }, breaker: { failureThreshold: 2 } });
    const call = fakeCall(() => refused());
    const err = await rejection(policy.execute(call));
    expect(err.kind).toBe('circuit_open');
    expect(call.calls).toBe(2);
  });

  it('retry - every attempt - takes a pool slot (total_acquired counts attempts)', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 3 }, breaker: { failureThreshold: 100 } });
    await rejection(policy.execute(fakeCall(() => busy())));
    expect(policy.poolSnapshot.total_acquired).toBe(3);
  });

  it('onError - a failed operation - reported once with its DbError, after the retries', async () => {
    const onError = vi.fn();
    const policy = makePolicy({ breaker: { failureThreshold: 100 } }, { onError });
    await rejection(policy.execute(fakeCall(() => busy())));
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]?.[0]).toMatchObject({ kind: 'busy' });
  });
});

describe('ResiliencePolicy writes', () => {
  const reset = () => new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });

  it.each([
    ['busy', busy],
    ['a connection never made (ECONNREFUSED)', refused],
  ])('write without a claim - %s, then success - retried: it cannot have committed', async (_name, make) => {
    const policy = makePolicy();
    const call = fakeCall((n) => (n === 1 ? make() : undefined));
    await expect(policy.execute(call, { kind: 'write' })).resolves.toBe(2);
    expect(call.calls).toBe(2);
  });

  it.each([
    ['a connection lost after sending (ECONNRESET)', reset],
    ['a server error', serverError],
  ])(
    'write without a claim - %s - not retried, answered outcome_unknown (it may have committed)',
    async (_name, make) => {
      const policy = makePolicy();
      const call = fakeCall(() => make());
      const err = await rejection(policy.execute(call, { kind: 'write' }));
      expect(err.kind).toBe('outcome_unknown');
      expect(call.calls).toBe(1);
    },
  );

  it('write without a claim - its deadline passes - outcome_unknown, not retried', async () => {
    const policy = makePolicy({ timeoutMs: 20 });
    let calls = 0;
    const err = await rejection(
      policy.execute(
        () => {
          calls++;
          return new Promise<never>(() => undefined);
        },
        { kind: 'write' },
      ),
    );
    expect(err).toMatchObject({ kind: 'outcome_unknown', detail: 'timeout' });
    expect(calls).toBe(1);
  });

  it.each([
    ['a connection lost after sending', reset],
    ['a server error', serverError],
  ])(
    'claimed write - %s, then success - retried (a retry of a committed write meets its claim)',
    async (_name, make) => {
      const policy = makePolicy();
      const call = fakeCall((n) => (n === 1 ? make() : undefined));
      await expect(policy.execute(call, { kind: 'claimed_write' })).resolves.toBe(2);
    },
  );

  it('claimed write - deadline passed, then the retry meets the claim - the claim conflict is the answer', async () => {
    const policy = makePolicy({ timeoutMs: 20 });
    let calls = 0;
    const err = await rejection(
      policy.execute(
        () => {
          calls++;
          return calls === 1 ? new Promise<never>(() => undefined) : Promise.reject(constraint());
        },
        { kind: 'claimed_write' },
      ),
    );
    expect(err.kind).toBe('constraint');
    expect(calls).toBe(2);
  });

  it('claimed write - every attempt lost after sending - outcome_unknown after maxAttempts calls', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 3 }, breaker: { failureThreshold: 100 } });
    const call = fakeCall(() => reset());
    const err = await rejection(policy.execute(call, { kind: 'claimed_write' }));
    expect(err).toMatchObject({ kind: 'outcome_unknown', detail: 'connection' });
    expect(call.calls).toBe(3);
  });

  it('claimed write - lost after sending, then refused until the end - still outcome_unknown', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 3 }, breaker: { failureThreshold: 100 } });
    const call = fakeCall((n) => (n === 1 ? reset() : refused()));
    expect((await rejection(policy.execute(call, { kind: 'claimed_write' }))).kind).toBe('outcome_unknown');
  });

  it('claimed write - lost after sending, then the database answers with an error - that error (settled)', async () => {
    const policy = makePolicy();
    const call = fakeCall((n) => (n === 1 ? reset() : precondition()));
    expect((await rejection(policy.execute(call, { kind: 'claimed_write' }))).kind).toBe('precondition');
  });

  it('read - a connection lost after sending - retried as before, never outcome_unknown', async () => {
    const policy = makePolicy({ breaker: { failureThreshold: 100 } });
    const call = fakeCall(() => reset());
    expect((await rejection(policy.execute(call))).kind).toBe('connection');
    expect(call.calls).toBe(3);
  });
});

describe('ResiliencePolicy timeout', () => {
  it('timeout - a call that never answers - rejects with kind timeout at the deadline, not retried', async () => {
    const policy = makePolicy({ timeoutMs: 30, retry: { maxAttempts: 3 } });
    let calls = 0;
    let seen: AbortSignal | undefined;
    const { err, ms } = await timedRejection(() =>
      policy.execute((signal) => {
        calls++;
        seen = signal;
        return new Promise(() => undefined);
      }),
    );
    expect(err.kind).toBe('timeout');
    expect(ms).toBeGreaterThanOrEqual(25);
    expect(ms).toBeLessThan(500);
    expect(calls).toBe(1);
    expect(seen?.aborted).toBe(true);
  });

  it('timeout - repeated timeouts - count against the breaker and open it', async () => {
    const onBreak = vi.fn();
    const policy = makePolicy({ timeoutMs: 20, breaker: { failureThreshold: 2 } }, { onBreak });
    const hang = () => new Promise<never>(() => undefined);
    expect((await rejection(policy.execute(hang))).kind).toBe('timeout');
    expect(policy.breakerSnapshot.state).toBe('closed');
    expect((await rejection(policy.execute(hang))).kind).toBe('timeout');
    expect(policy.breakerSnapshot.state).toBe('open');
    expect(onBreak).toHaveBeenCalledTimes(1);
    await expectFastRejections(() => policy.execute(hang), 'circuit_open');
  });
});

describe('ResiliencePolicy circuit breaker', () => {
  it('fast-rejection check - a rejection that waits for a 0 ms timer or I/O - does not count as fast', async () => {
    expect(await settledInMicrotasks(Promise.reject(new Error('now')).catch(() => undefined))).toBe(true);
    expect(await settledInMicrotasks(sleep(0))).toBe(false);
    expect(await settledInMicrotasks(new Promise((resolve) => setImmediate(resolve)))).toBe(false);
  });

  it('breaker - consecutive transient failures - opens exactly at the threshold, reports them', async () => {
    const onBreak = vi.fn();
    const policy = makePolicy({ retry: { maxAttempts: 1 }, breaker: { failureThreshold: 3 } }, { onBreak });
    const failing = fakeCall(() => refused());
    await rejection(policy.execute(failing));
    await rejection(policy.execute(failing));
    expect(policy.breakerSnapshot).toMatchObject({ state: 'closed', failure_count: 2 });
    await rejection(policy.execute(failing));
    const snapshot = policy.breakerSnapshot;
    expect(snapshot.state).toBe('open');
    expect(snapshot.failure_count).toBe(3);
    expect(Date.parse(snapshot.last_failure_at ?? '')).toBeGreaterThan(Date.now() - 5_000);
    expect(onBreak).toHaveBeenCalledTimes(1);
  });

  it('breaker - open - every call fails fast with circuit_open and never reaches the database', async () => {
    const policy = makePolicy({
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 2, openMs: 60_000 },
    });
    await tripBreaker(policy, 2);
    const call = fakeCall();
    await expectFastRejections(() => policy.execute(call), 'circuit_open');
    expect(call.calls).toBe(0);
    expect(policy.retryAfterSeconds()).toBeGreaterThan(55);
    expect(policy.retryAfterSeconds()).toBeLessThanOrEqual(60);
  });

  it('breaker - errors the request caused (constraint, SQL, precondition) - never open it', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 1 }, breaker: { failureThreshold: 2 } });
    for (const make of [constraint, sqlError, precondition, constraint, sqlError, precondition]) {
      await rejection(policy.execute(fakeCall(() => make())));
    }
    expect(policy.breakerSnapshot).toMatchObject({ state: 'closed', failure_count: 0 });
  });

  it('breaker - a success between failures - resets the consecutive count', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 1 }, breaker: { failureThreshold: 3 } });
    const failing = fakeCall(() => refused());
    await rejection(policy.execute(failing));
    await rejection(policy.execute(failing));
    await policy.execute(fakeCall());
    await rejection(policy.execute(failing));
    await rejection(policy.execute(failing));
    expect(policy.breakerSnapshot).toMatchObject({ state: 'closed', failure_count: 2 });
  });

  it('breaker - SQLITE_BUSY on every call - retried each time, never opens the breaker (contention, not a sick server)', async () => {
    const onBreak = vi.fn();
    const policy = makePolicy({ retry: { maxAttempts: 3 }, breaker: { failureThreshold: 2 } }, { onBreak });
    const locked = fakeCall(() => busy());
    for (let i = 0; i < 5; i++) expect((await rejection(policy.execute(locked))).kind).toBe('busy');
    expect(locked.calls).toBe(15);
    expect(policy.breakerSnapshot).toMatchObject({ state: 'closed', failure_count: 0 });
    expect(onBreak).not.toHaveBeenCalled();
  });

  it('breaker - BUSY between connection failures - neither counts nor resets the consecutive failures', async () => {
    const policy = makePolicy({ retry: { maxAttempts: 1 }, breaker: { failureThreshold: 3 } });
    await rejection(policy.execute(fakeCall(() => refused())));
    await rejection(policy.execute(fakeCall(() => refused())));
    await rejection(policy.execute(fakeCall(() => busy())));
    expect(policy.breakerSnapshot).toMatchObject({ state: 'closed', failure_count: 2 });
    await rejection(policy.execute(fakeCall(() => refused())));
    expect(policy.breakerSnapshot.state).toBe('open');
  });

  it('breaker - closed - retryAfterSeconds is 1', () => {
    expect(makePolicy().retryAfterSeconds()).toBe(1);
  });

  it('breaker - open period over - lets at most halfOpenMaxCalls probes through concurrently, the rest fail fast', async () => {
    const policy = makePolicy({
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 2, halfOpenMaxCalls: 2 },
    });
    await untilHalfOpenDue(await tripBreaker(policy, 2));
    const g = gate();
    const outcomes = Array.from({ length: 6 }, () =>
      policy.execute(g.call).then(
        () => 'ok',
        (err: unknown) => (err as DbError).kind,
      ),
    );
    // Those beyond the limit are refused while the probes are still held at the gate: they do not wait.
    const refused = await Promise.race([
      Promise.all(outcomes.slice(2)),
      sleep(1_000).then(() => 'still waiting'),
    ]);
    expect(refused).toEqual(['circuit_open', 'circuit_open', 'circuit_open', 'circuit_open']);
    g.open();
    expect(await Promise.all(outcomes.slice(0, 2))).toEqual(['ok', 'ok']);
    expect(g.entered).toBe(2);
    expect(g.maxActive).toBeLessThanOrEqual(2);
  });

  it('breaker - half-open - closes only after successThreshold successes', async () => {
    const policy = makePolicy({
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 2, successThreshold: 3, halfOpenMaxCalls: 1 },
    });
    await untilHalfOpenDue(await tripBreaker(policy, 2));
    const ok = fakeCall();
    await policy.execute(ok);
    expect(policy.breakerSnapshot.state).toBe('half_open');
    await policy.execute(ok);
    expect(policy.breakerSnapshot.state).toBe('half_open');
    await policy.execute(ok);
    expect(policy.breakerSnapshot.state).toBe('closed');
    expect(ok.calls).toBe(3);
  });

  it('breaker - default successThreshold 2 - one successful probe does not close it yet', async () => {
    const policy = makePolicy({
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 2, successThreshold: 2 },
    });
    await untilHalfOpenDue(await tripBreaker(policy, 2));
    await policy.execute(fakeCall());
    expect(policy.breakerSnapshot.state).toBe('half_open');
    await policy.execute(fakeCall());
    expect(policy.breakerSnapshot.state).toBe('closed');
  });

  it('breaker - the first probe fails - open again for a full period, failing fast', async () => {
    const onBreak = vi.fn();
    const policy = makePolicy({ retry: { maxAttempts: 1 }, breaker: { failureThreshold: 2 } }, { onBreak });
    await untilHalfOpenDue(await tripBreaker(policy, 2));
    expect((await rejection(policy.execute(fakeCall(() => refused())))).kind).toBe('connection');
    const reopenedAt = Date.now();
    expect(policy.breakerSnapshot.state).toBe('open');
    expect(onBreak).toHaveBeenCalledTimes(2);
    const call = fakeCall();
    await expectFastRejections(() => policy.execute(call), 'circuit_open');
    expect(call.calls).toBe(0);
    await untilHalfOpenDue(reopenedAt);
    await policy.execute(call);
    expect(call.calls).toBe(1);
  });

  it('breaker - a failure while recovering (after a successful probe) - reopens, then recovers from scratch', async () => {
    const onBreak = vi.fn();
    const policy = makePolicy(
      {
        retry: { maxAttempts: 1 },
        breaker: { failureThreshold: 2, successThreshold: 3, halfOpenMaxCalls: 1 },
      },
      { onBreak },
    );
    await untilHalfOpenDue(await tripBreaker(policy, 2));
    await policy.execute(fakeCall());
    expect(policy.breakerSnapshot.state).toBe('half_open');
    expect((await rejection(policy.execute(fakeCall(() => refused())))).kind).toBe('connection');
    expect(policy.breakerSnapshot.state).toBe('open');
    expect(onBreak).toHaveBeenCalledTimes(2);
    const blocked = fakeCall();
    await expectFastRejections(() => policy.execute(blocked), 'circuit_open', 5);
    expect(blocked.calls).toBe(0);
    // After the open period it is half-open again and needs the full successThreshold once more.
    await vi.waitFor(() => expect(policy.breakerSnapshot.state).toBe('half_open'), {
      timeout: 2_000,
      interval: 5,
    });
    const ok = fakeCall();
    await policy.execute(ok);
    await policy.execute(ok);
    expect(policy.breakerSnapshot.state).toBe('half_open');
    await policy.execute(ok);
    expect(policy.breakerSnapshot.state).toBe('closed');
  });

  it('breaker - failed probes - each open period doubles from initialOpenMs up to openMs; closing resets it', async () => {
    // A short outage costs a short wait; a long one is probed ever more rarely, never less than every openMs.
    const policy = makePolicy({
      retry: { maxAttempts: 1 },
      breaker: {
        failureThreshold: 2,
        successThreshold: 2,
        initialOpenMs: 100,
        openMs: 400,
        halfOpenMaxCalls: 1,
      },
    });
    const failing = fakeCall(() => refused());
    const ok = fakeCall();
    await rejection(policy.execute(failing));
    let openedNotBefore = Date.now();
    await rejection(policy.execute(failing)); // opens
    const waits: number[] = [];
    const probe = async (call: ReturnType<typeof fakeCall>) => {
      const admitted = await untilAdmitted(policy, call);
      waits.push(admitted.returnedAt - openedNotBefore);
      openedNotBefore = admitted.startedAt; // a failed probe reopens the circuit after it started
    };
    await probe(failing);
    await probe(failing);
    await probe(failing);
    // A failure while recovering (one success of the two needed) reopens for the next period too.
    await probe(ok);
    expect(policy.breakerSnapshot.state).toBe('half_open');
    openedNotBefore = Date.now();
    await rejection(policy.execute(failing));
    await probe(ok);
    await policy.execute(ok);
    expect(policy.breakerSnapshot.state).toBe('closed');
    const expected = [100, 200, 400, 400, 400];
    waits.forEach((ms, i) => {
      expect(ms, `open period ${i + 1}`).toBeGreaterThanOrEqual(expected[i] as number);
      expect(ms, `open period ${i + 1}`).toBeLessThan((expected[i] as number) + 150);
    });
    // Closed for good: the next outage starts again from the short period.
    await rejection(policy.execute(failing));
    openedNotBefore = Date.now();
    await rejection(policy.execute(failing));
    await probe(ok);
    expect(waits.at(-1)).toBeLessThan(250);
  });

  it('breaker - DB_BREAKER_INITIAL_TIMEOUT_MS default - Retry-After of a fresh open circuit is 1 s, not the 60 s maximum', async () => {
    const policy = createResiliencePolicy(testConfig({ DB_RETRY_MAX_ATTEMPTS: 1 }));
    policies.push(policy);
    await tripBreaker(policy, 5);
    expect(policy.retryAfterSeconds()).toBe(1);
  });

  it('breaker - recovering - still admits at most halfOpenMaxCalls concurrent calls', async () => {
    const policy = makePolicy({
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 2, successThreshold: 4, halfOpenMaxCalls: 2 },
    });
    await untilHalfOpenDue(await tripBreaker(policy, 2));
    await policy.execute(fakeCall()); // the first probe: now recovering, more successes needed
    expect(policy.breakerSnapshot.state).toBe('half_open');
    const g = gate();
    const outcomes = Array.from({ length: 5 }, () =>
      policy.execute(g.call).then(
        () => 'ok',
        (err: unknown) => (err as DbError).kind,
      ),
    );
    await vi.waitFor(() => expect(g.entered).toBe(2), { timeout: 1_000, interval: 2 });
    g.open();
    const results = await Promise.all(outcomes);
    expect(results.filter((r) => r === 'ok')).toHaveLength(2);
    expect(results.filter((r) => r === 'circuit_open')).toHaveLength(3);
    expect(g.maxActive).toBe(2);
  });
});

describe('ResiliencePolicy pool (bulkhead)', () => {
  it('pool - slots busy and queue full - the next call is rejected at once with kind overloaded', async () => {
    const onBreak = vi.fn();
    const policy = makePolicy({ poolSize: 2, queueSize: 1, breaker: { failureThreshold: 1 } }, { onBreak });
    const g = gate();
    const running = [policy.execute(g.call), policy.execute(g.call)];
    await vi.waitFor(() => expect(policy.poolSnapshot.in_use).toBe(2), { timeout: 1_000, interval: 2 });
    const queued = policy.execute(g.call);
    await vi.waitFor(() => expect(policy.poolSnapshot.queued).toBe(1), { timeout: 1_000, interval: 2 });
    expect(policy.poolSnapshot).toEqual({ size: 2, in_use: 2, queued: 1, total_acquired: 2 });

    const extra = fakeCall();
    await expectFastRejections(() => policy.execute(extra), 'overloaded');
    expect(extra.calls).toBe(0);
    // Overload is not a sick database: the breaker (threshold 1 here) stays closed.
    expect(policy.breakerSnapshot.state).toBe('closed');
    expect(onBreak).not.toHaveBeenCalled();

    g.open();
    await expect(Promise.all([...running, queued])).resolves.toEqual(['ok', 'ok', 'ok']);
    expect(g.maxActive).toBe(2);
    expect(policy.poolSnapshot).toEqual({ size: 2, in_use: 0, queued: 0, total_acquired: 3 });
  });

  it("pool - a call queued for a slot - runs in its own caller's async context, not in the one that freed the slot", async () => {
    const context = new AsyncLocalStorage<string>();
    const policy = makePolicy({ poolSize: 1, queueSize: 4 });
    const g = gate();
    const first = context.run('first', () => policy.execute(g.call));
    await vi.waitFor(() => expect(policy.poolSnapshot.in_use).toBe(1), { timeout: 1_000, interval: 2 });
    const queued = context.run('queued', () => policy.execute(async () => context.getStore()));
    await vi.waitFor(() => expect(policy.poolSnapshot.queued).toBe(1), { timeout: 1_000, interval: 2 });
    g.open();
    await first;
    await expect(queued).resolves.toBe('queued');
  });

  it('pool - idle - snapshot is empty with the configured size', () => {
    expect(makePolicy({ poolSize: 7 }).poolSnapshot).toEqual({
      size: 7,
      in_use: 0,
      queued: 0,
      total_acquired: 0,
    });
  });

  it('pool - calls queued behind a hung database - each fails within the deadline of its own arrival', async () => {
    // RELIABILITY R14/promise 4: every database call has a deadline. Time spent waiting for a pool slot
    // is part of the caller's wait, so a queue of N behind hung calls must not take N × timeoutMs.
    const timeoutMs = 50;
    const policy = makePolicy({ poolSize: 1, queueSize: 5, timeoutMs, breaker: { failureThreshold: 100 } });
    const started = performance.now();
    const elapsed = await Promise.all(
      Array.from({ length: 4 }, () =>
        policy
          .execute(() => new Promise<never>(() => undefined))
          .then(
            () => Number.NaN,
            () => performance.now() - started,
          ),
      ),
    );
    expect(Math.max(...elapsed)).toBeLessThan(timeoutMs + 100);
  });

  it('pool - a timed-out call - gives its slot back', async () => {
    const policy = makePolicy({
      poolSize: 1,
      queueSize: 0,
      timeoutMs: 20,
      breaker: { failureThreshold: 100 },
    });
    expect((await rejection(policy.execute(() => new Promise<never>(() => undefined)))).kind).toBe('timeout');
    expect(policy.poolSnapshot.in_use).toBe(0);
    await expect(policy.execute(fakeCall())).resolves.toBe(1);
  });
});
