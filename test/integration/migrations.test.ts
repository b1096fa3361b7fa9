import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/create-database.js';
import type { Database } from '../../src/db/database.js';
import { latestSchemaVersion, MIGRATIONS, migrate } from '../../src/storage/migrations.js';
import { testConfig } from '../helpers/app.js';
import { type SqldHandle, startSqld } from '../helpers/sqld.js';

// SPEC §5: forward-only numbered migrations, each atomic, recorded in schema_migrations; several
// instances starting at once on one fresh database must all come up with one intact schema.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TABLES = [
  'episodes',
  'episode_tags',
  'steps',
  'episodes_fts',
  'embedding_models',
  'embeddings',
  'spatiotemporal_index',
  'spatiotemporal_entries',
  'idempotency_keys',
  'schema_migrations',
];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'engram-migrations-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(url: string, env: Record<string, string | number> = {}): Database {
  const db = createDatabase(testConfig({ LIBSQL_URL: url, ...env }));
  cleanups.push(() => db.close());
  return db;
}

/** The schema is whole: integrity ok, every table there, every migration recorded exactly once. */
async function expectIntactSchema(db: Database): Promise<void> {
  expect(await db.read('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  const names = (await db.read("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")).map(
    (r) => r.name,
  );
  expect(names).toEqual(expect.arrayContaining([...TABLES, 'engram_guard']));
  const ledger = await db.read(
    'SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version',
  );
  expect(ledger).toEqual(MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
}

/** Runs `npm run migrate` (src/migrate.ts) as its own process. */
function migrateProcess(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/migrate.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LIBSQL_URL: url, LOG_LEVEL: 'silent' },
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
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('migrations', () => {
  it('migrate - two Database instances on one fresh file at once - both succeed, applied once, schema intact', async () => {
    const url = `file:${join(tempDir(), 'engram.db')}`;
    const [a, b] = [open(url), open(url)];
    const applied = await Promise.all([migrate(a), migrate(b)]);
    expect(applied.flat()).toEqual(MIGRATIONS.map((m) => m.version));
    await expectIntactSchema(a);
    await expectIntactSchema(b);
  });

  it('migrate - two processes on one fresh file at once - both exit 0, schema intact', async () => {
    const dir = tempDir();
    const url = `file:${join(dir, 'engram.db')}`;
    const runs = await Promise.all([migrateProcess(url), migrateProcess(url)]);
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`schema version ${latestSchemaVersion()}`);
    }
    const appliedBy = runs.filter((r) =>
      r.stdout.includes(`applied [${MIGRATIONS.map((m) => m.version).join(',')}]`),
    );
    expect(appliedBy).toHaveLength(1);
    await expectIntactSchema(open(url));
  });

  it('migrate - two instances on one fresh sqld at once - both succeed, applied once, schema intact', async () => {
    const sqld: SqldHandle = await startSqld({ kind: 'binary', quiet: true });
    cleanups.push(() => sqld.stop());
    const [a, b] = [open(sqld.url), open(sqld.url)];
    const applied = await Promise.all([migrate(a), migrate(b)]);
    expect(applied.flat()).toEqual(MIGRATIONS.map((m) => m.version));
    await expectIntactSchema(a);
  });

  it('migrate - already up to date - applies nothing and changes nothing', async () => {
    const db = open(`file:${join(tempDir(), 'engram.db')}`);
    expect(await migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
    const before = await db.read('SELECT version, applied_at FROM schema_migrations ORDER BY version');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await migrate(db)).toEqual([]);
    expect(await db.read('SELECT version, applied_at FROM schema_migrations ORDER BY version')).toEqual(
      before,
    );
    await expectIntactSchema(db);
  });
});
