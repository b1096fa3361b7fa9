import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { type SqlDriver, type SqlValue, type Statement, sql } from '../../src/db/types.js';

// RELIABILITY: named args (an object) bound to a `?` statement abort the whole process (libsql-js#114,
// a Rust panic: not catchable). The guard: our API takes arrays only, and a non-array that slips past the
// types (JSON, `any`) must be refused before it reaches libsql. Every probe runs in a child process,
// because a probe that reaches libsql kills the process it runs in.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'engram-bindings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What the probe printed: how its promise settled. */
  result?: { settled: 'resolved' | 'rejected'; name?: string; message?: string };
}

/** Runs `body` (an async expression, ESM; tsx unless told) in a child; reports how it settled and exited. */
function probe(imports: string, body: string, typescript = true): Promise<ChildOutcome> {
  const code = `${imports}
try {
  const value = await (${body});
  console.log(JSON.stringify({ settled: 'resolved', message: JSON.stringify(value) }));
} catch (err) {
  console.log(JSON.stringify({ settled: 'rejected', name: err?.name, message: err?.message }));
}
process.exit(0); // the probe is over; an open database (its writer thread) must not keep the child alive`;
  return new Promise((resolve, reject) => {
    const loader = typescript ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', code], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RUST_BACKTRACE: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let result: ChildOutcome['result'];
      try {
        result = JSON.parse(line);
      } catch {
        result = undefined;
      }
      resolve({ code: exitCode, signal, stdout, stderr, result });
    });
  });
}

const aborted = (o: ChildOutcome) => o.signal === 'SIGABRT' || o.code === 134;

/** The probe ended in a clean rejection, and the process lived on to exit normally. */
function expectRefused(o: ChildOutcome): void {
  expect(aborted(o), `the process aborted: ${o.stderr.slice(0, 300)}`).toBe(false);
  expect(o.code, o.stderr.slice(0, 500)).toBe(0);
  expect(o.result?.settled, o.stdout).toBe('rejected');
}

const DATABASE = `import { createDatabase } from './src/db/create-database.ts';
import { loadConfig } from './src/config.ts';
import { sql } from './src/db/types.ts';`;
const database = (file: string) =>
  `createDatabase(loadConfig({ LIBSQL_URL: ${JSON.stringify(`file:${join(dir, file)}`)}, LOG_LEVEL: 'silent' }))`;

describe.concurrent('named args on ? (libsql-js#114)', () => {
  it('libsql raw - object bound to ? - aborts the process (the hazard this file guards against)', async () => {
    const outcome = await probe(
      `import Database from 'libsql';`,
      `Promise.resolve().then(() => new Database(':memory:').prepare('SELECT ? AS x').all({ a: 1 }))`,
      false,
    );
    // If this starts passing cleanly, libsql has fixed #114: the guard is then belt and braces.
    expect(aborted(outcome), `exit ${outcome.code} ${outcome.signal}: ${outcome.stdout}`).toBe(true);
    expect(outcome.result).toBeUndefined();
  });

  it('Database.read (embedded file, full policy) - object as args - refused, the process survives', async () => {
    const outcome = await probe(
      DATABASE,
      `(async () => {
        const db = ${database('read.db')};
        console.log('control', JSON.stringify(await db.read('SELECT ? AS x', [7])));
        return db.read('SELECT ? AS x', { a: 1 });
      })()`,
    );
    expect(outcome.stdout).toContain('control [{"x":7}]');
    expectRefused(outcome);
  });

  it('Database.write (embedded group commit) - object as args - refused, the process survives', async () => {
    const outcome = await probe(
      DATABASE,
      `(async () => {
        const db = ${database('write.db')};
        const tick = () => new Promise((resolve) => setImmediate(resolve)); // see test/http/group-commit.test.ts
        await db.write([sql('CREATE TABLE t (x)')]);
        await tick();
        console.log('control', JSON.stringify(await db.write([sql('INSERT INTO t VALUES (?)', 1)])));
        await tick();
        return db.write([{ sql: 'INSERT INTO t VALUES (?)', args: { a: 1 } }]);
      })()`,
    );
    expect(outcome.stdout).toContain('control [{"rows":[],"changes":1}]');
    expectRefused(outcome);
  });

  it('ClientDriver on a file: URL (the embedded replica engine) - object as args - refused, the process survives', async () => {
    const url = `file:${join(dir, 'client.db')}`;
    expectRefused(
      await probe(
        `import { ClientDriver } from './src/db/client-driver.ts';`,
        `new ClientDriver({ url: ${JSON.stringify(url)}, timeoutMs: 1000 }).query({ sql: 'SELECT ? AS x', args: { a: 1 } })`,
      ),
    );
  });

  it('types - every statement and read API - takes arrays of SQL values only', () => {
    // Checked by `npm run typecheck`: an object where args go does not compile.
    expectTypeOf<Statement['args']>().toEqualTypeOf<readonly SqlValue[]>();
    expectTypeOf<Database['read']>().parameter(1).toEqualTypeOf<readonly SqlValue[] | undefined>();
    expectTypeOf<SqlDriver['query']>().parameter(0).toEqualTypeOf<Statement>();
    expectTypeOf(sql).parameters.toEqualTypeOf<[string, ...SqlValue[]]>();
    // At run time, sql() always builds an array, whatever it is given.
    expect(Array.isArray(sql('SELECT ?, ?', 1, 'a').args)).toBe(true);
    expect(sql('SELECT 1').args).toEqual([]);
  });
});
