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

/** A database call the FaultyDriver is about to pass on. */
export interface DriverCall {
  op: 'query' | 'transaction' | 'group';
  stmts: readonly Statement[];
}

/**
 * Wraps a real driver; before each call it runs `fault` (when set): a throw or rejection fails the call
 * with that error (as if the driver had raised it), a returned promise delays the call until it settles.
 * `calls` counts the calls that reached the wrapper.
 */
export class FaultyDriver implements SqlDriver {
  readonly mode;
  fault: ((call: DriverCall) => undefined | Promise<void>) | undefined;
  calls = 0;
  readonly group?: (jobs: readonly (readonly Statement[])[]) => Promise<(StatementResult[] | Error)[]>;
  readonly sync?: () => Promise<void>;

  constructor(readonly inner: SqlDriver) {
    this.mode = inner.mode;
    const sync = inner.sync?.bind(inner);
    if (sync) this.sync = sync;
    const group = inner.group?.bind(inner);
    if (group) {
      this.group = async (jobs) => {
        await this.before('group', jobs.flat());
        return group(jobs);
      };
    }
  }

  async query(stmt: Statement): Promise<Row[]> {
    await this.before('query', [stmt]);
    return this.inner.query(stmt);
  }

  async transaction(stmts: readonly Statement[]): Promise<StatementResult[]> {
    await this.before('transaction', stmts);
    return this.inner.transaction(stmts);
  }

  ready(): Promise<void> {
    return this.inner.ready?.() ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async before(op: DriverCall['op'], stmts: readonly Statement[]): Promise<void> {
    this.calls++;
    await this.fault?.({ op, stmts });
  }
}

export type TestApp = FastifyInstance & {
  /** The Config the app was built with. */
  testConfig: Config;
  /** The temp directory holding the database file (deleted by `app.close()`). */
  testDir: string;
  /** Present when built with `{ faults: true }`. */
  faults: FaultyDriver;
};

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
    app.addHook('onClose', async () => cleanup());
    return Object.assign(app, { testConfig: config, testDir: dir, faults: faulty as FaultyDriver });
  } catch (err) {
    cleanup();
    throw err;
  }
}
