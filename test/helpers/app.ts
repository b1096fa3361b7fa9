import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type AppOverrides, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createDriver } from '../../src/db/create-database.js';
import type { Row, SqlDriver, Statement, StatementResult } from '../../src/db/types.js';

// Building an app for a test, on its own database, with its own settings.
//
//   const app = await buildTestApp({ DB_POOL_SIZE: 1 });        // fresh temp file DB, logs silent
//   const res = await app.inject({ method: 'GET', url: '/health' });
//   await app.close();                                           // also deletes the temp directory
//
// Failure injection: `buildTestApp(env, { faults: true })` puts a FaultyDriver in front of the real driver
// the config asks for; set `app.faults.fault` AFTER the app is built (migrations run through it too):
//
//   const app = await buildTestApp({}, { faults: true });
//   app.faults.fault = () => { throw Object.assign(new Error('no such table: x'), { code: 'SQLITE_ERROR' }); };

/** Environment values as a test writes them; numbers and booleans are stringified as the shell would. */
export type TestEnv = Record<string, string | number | boolean | undefined>;

/** A Config parsed by the real `loadConfig` from `env` (nothing is read from process.env). Defaults for tests:
 * `LOG_LEVEL=silent` and an in-memory database, unless `env` says otherwise. */
export function testConfig(env: TestEnv = {}): Config {
  const strings = Object.fromEntries(
    Object.entries({ LOG_LEVEL: 'silent', LIBSQL_URL: ':memory:', ...env }).flatMap(([k, v]) =>
      v === undefined ? [] : [[k, String(v)]],
    ),
  );
  return loadConfig(strings);
}

/** A database call the FaultyDriver is about to pass on (or has passed on). */
export interface DriverCall {
  op: 'query' | 'scan' | 'transaction' | 'group';
  stmts: readonly Statement[];
}

/** A fault: a throw or rejection fails the call with that error; a returned promise delays it until it settles. */
export type Fault = (call: DriverCall) => undefined | Promise<void>;

/**
 * Wraps a real driver and injects faults around its calls:
 * - `fault` runs BEFORE the call reaches the real driver (e.g. ECONNREFUSED: nothing was applied);
 * - `afterCall` runs AFTER the real driver answered successfully — a write has committed — and before the
 *   answer is handed back: a throw is an error after commit (a connection reset), a delay past the
 *   deadline is a commit whose answer came too late.
 * `calls` counts the calls that reached the wrapper. Its reads are never `synchronousReads`: a fault can
 * delay them, so they keep the policy's deadline.
 */
export class FaultyDriver implements SqlDriver {
  readonly mode;
  fault: Fault | undefined;
  afterCall: Fault | undefined;
  calls = 0;
  readonly scan?: (stmt: Statement) => Promise<Row[]>;
  readonly group?: (jobs: readonly (readonly Statement[])[]) => Promise<(StatementResult[] | Error)[]>;
  readonly sync?: () => Promise<void>;

  constructor(readonly inner: SqlDriver) {
    this.mode = inner.mode;
    const sync = inner.sync?.bind(inner);
    if (sync) this.sync = sync;
    const scan = inner.scan?.bind(inner);
    if (scan) this.scan = (stmt) => this.around('scan', [stmt], () => scan(stmt));
    const group = inner.group?.bind(inner);
    if (group) this.group = (jobs) => this.around('group', jobs.flat(), () => group(jobs));
  }

  query(stmt: Statement): Promise<Row[]> {
    return this.around('query', [stmt], () => this.inner.query(stmt));
  }

  transaction(stmts: readonly Statement[], options?: { unbounded?: boolean }): Promise<StatementResult[]> {
    return this.around('transaction', stmts, () => this.inner.transaction(stmts, options));
  }

  ready(): Promise<void> {
    return this.inner.ready?.() ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async around<T>(
    op: DriverCall['op'],
    stmts: readonly Statement[],
    run: () => Promise<T>,
  ): Promise<T> {
    this.calls++;
    await this.fault?.({ op, stmts });
    const result = await run();
    await this.afterCall?.({ op, stmts });
    return result;
  }
}

/** Where the test app leaves, on each raw response, the response schemas of the route that answered it. */
export const RESPONSE_SCHEMAS = Symbol('response schemas of the route');

export type TestApp = FastifyInstance & {
  /** The Config the app was built with. */
  testConfig: Config;
  /** The temp directory holding the database file (deleted by `app.close()`). */
  testDir: string;
  /** Present when built with `{ faults: true }`. */
  faults: FaultyDriver;
};

/**
 * An instance whose first schema check does not get an answer in time starts unready and tries again (issue
 * 14); a test app is used at once, so wait until it serves (a loaded machine can miss DB_TIMEOUT_MS at start).
 */
async function untilReady(app: FastifyInstance, patienceMs = 30_000): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const { reason } = await app.engram.health.readiness();
    const starting = reason === 'migrations not applied' || reason === 'database unreachable';
    if (!starting) return;
    if (Date.now() > deadline) throw new Error(`test app not ready after ${patienceMs} ms: ${reason}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * An app on a fresh temp-file database (`file:<tmp>/engram.db`), `LOG_LEVEL=silent`, with `env` applied on
 * top (via `testConfig`). `overrides` are passed to `buildApp`; `faults: true` wraps the real driver in a
 * FaultyDriver (exposed as `app.faults`). `app.close()` closes the database and deletes the directory.
 */
export async function buildTestApp(
  env: TestEnv = {},
  overrides: AppOverrides & { faults?: boolean } = {},
): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'engram-test-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const config = testConfig({ LIBSQL_URL: `file:${join(dir, 'engram.db')}`, ...env });
    const { faults, ...appOverrides } = overrides;
    let faulty: FaultyDriver | undefined;
    if (faults) {
      faulty = new FaultyDriver(createDriver(config));
      appOverrides.driver = faulty;
    }
    const app = (await buildApp(config, appOverrides)) as TestApp;
    await untilReady(app);
    app.addHook('onClose', async () => cleanup());
    // The contract suite checks every response against its route's schemas (see `send` in backends.ts).
    app.addHook('onSend', async (request, reply) => {
      Object.assign(reply.raw, { [RESPONSE_SCHEMAS]: request.routeOptions.schema?.response });
    });
    return Object.assign(app, { testConfig: config, testDir: dir, faults: faulty as FaultyDriver });
  } catch (err) {
    cleanup();
    throw err;
  }
}
