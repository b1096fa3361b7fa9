import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/create-database.js';
import type { Database } from '../../src/db/database.js';
import { type Statement, sql } from '../../src/db/types.js';
import { EpisodeCreate } from '../../src/domain/episode.js';
import { vectorInsert } from '../../src/storage/libsql/embeddings.js';
import { indexTime } from '../../src/storage/libsql/spatiotemporal.js';
import { latestSchemaVersion, MIGRATIONS, migrate } from '../../src/storage/migrations.js';
import { buildTestApp, testConfig } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';
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
    expect(applied.flat().sort((x, y) => x - y)).toEqual(MIGRATIONS.map((m) => m.version)); // each applied by one of them
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
    // Each migration was applied by exactly one of them (one may apply 1 and the other 2).
    const applied = runs.flatMap(
      (r) => JSON.parse(/applied (\[[\d,]*\])/.exec(r.stdout)?.[1] ?? '[]') as number[],
    );
    expect(applied.sort((x, y) => x - y)).toEqual(MIGRATIONS.map((m) => m.version));
    await expectIntactSchema(open(url));
  });

  it('migrate - two instances on one fresh sqld at once - both succeed, applied once, schema intact', async () => {
    const sqld: SqldHandle = await startSqld({ kind: 'binary', quiet: true });
    cleanups.push(() => sqld.stop());
    const [a, b] = [open(sqld.url), open(sqld.url)];
    const applied = await Promise.all([migrate(a), migrate(b)]);
    expect(applied.flat().sort((x, y) => x - y)).toEqual(MIGRATIONS.map((m) => m.version)); // each applied by one of them
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

  it('migrate - a migration that outlasts DB_TIMEOUT_MS applies (start-up work has no per-request deadline)', async () => {
    // On the embedded file. (A real sqld ends any transaction that holds its write lock for more than 5 s with
    // TRANSACTION_TIMEOUT, whatever the client waits: a limit of its own, outside this fix.)
    const url = `file:${join(tempDir(), 'engram.db')}`;
    await migrate(open(url));
    // A migration that rebuilds a big table, in miniature: one statement of a second or more against a 100 ms deadline.
    const slow = {
      version: latestSchemaVersion() + 1,
      name: 'a long rebuild',
      statements: [
        `CREATE TABLE long_rebuild AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)
           SELECT x FROM c`,
      ],
    };
    const db = open(url, { DB_TIMEOUT_MS: 100, DB_RETRY_MAX_ATTEMPTS: 1 });
    const started = performance.now();
    expect(await migrate(db, [...MIGRATIONS, slow])).toEqual([slow.version]);
    expect(performance.now() - started, 'the migration outlasted the deadline').toBeGreaterThan(100);
    expect(await db.read('SELECT COUNT(*) AS n FROM long_rebuild')).toEqual([{ n: 2_000_000 }]);
  });

  describe.each(['file', 'sqld'] as const)(
    'migration 2 on a %s database that has run migration 1',
    (kind) => {
      it('idempotency keys remembered before - replayed with the same answer after; another body is 422', async () => {
        let url = `file:${join(tempDir(), 'engram.db')}`;
        if (kind === 'sqld') {
          const sqld = await startSqld({ kind: 'binary', quiet: true });
          cleanups.push(() => sqld.stop());
          url = sqld.url;
        }
        // A real first answer, taken from an app on another database.
        const body = episodeBody({ agent_id: 'before-the-upgrade' });
        const donor = await buildTestApp();
        cleanups.push(() => donor.close());
        const first = await send(donor, 'POST', '/v1/episodes', body);
        // What migration 1's code remembered: status, headers, body, and the fingerprint it made of the
        // validated body (defaults filled in, as the route received it).
        const legacy = open(url);
        expect(
          await migrate(
            legacy,
            MIGRATIONS.filter((m) => m.version === 1),
          ),
        ).toEqual([1]);
        const fingerprint = createHash('sha256')
          .update('POST /v1/episodes\n')
          .update(JSON.stringify(EpisodeCreate.parse(body)))
          .digest('hex');
        await legacy.write([
          {
            sql: `INSERT INTO idempotency_keys (tenant, key, fingerprint, status, headers, body, created_at)
                VALUES ('default', 'remembered-key', ?, 201, ?, ?, ?)`,
            args: [
              fingerprint,
              JSON.stringify({ location: first.headers.location, etag: first.headers.etag }),
              JSON.stringify(first.body),
              Date.now(),
            ],
          },
        ]);

        const app = await buildTestApp({ LIBSQL_URL: url });
        cleanups.push(() => app.close());
        const replay = await send(app, 'POST', '/v1/episodes', body, { 'idempotency-key': 'remembered-key' });
        expect(replay.status, JSON.stringify(replay.body)).toBe(201);
        expect(replay.body).toEqual(first.body);
        expect(replay.headers).toMatchObject({
          location: first.headers.location,
          etag: first.headers.etag,
          'idempotent-replayed': 'true',
        });
        const other = await send(
          app,
          'POST',
          '/v1/episodes',
          { ...body, task_description: 'another' },
          { 'idempotency-key': 'remembered-key' },
        );
        expect(other.status).toBe(422);
        expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
        const [claim] = await app.engram.db.read(
          "SELECT expires_at - created_at AS ttl FROM idempotency_keys WHERE key = 'remembered-key'",
        );
        expect(claim?.ttl).toBe(24 * 3_600_000);
      });
    },
  );

  it('migration 6 on a database with completed episodes - mines them into the same rows its triggers write', async () => {
    // The same episodes and steps, written before migration 6 (mined by its backfill) and after it (mined
    // by its triggers, as the steps of each completed episode come in).
    const rows: Statement[] = [];
    for (let i = 0; i < 12; i++) {
      const id = `0000000${i.toString(16)}-0000-7000-8000-000000000000`;
      const completed = i % 4 !== 3;
      rows.push(
        sql(
          `INSERT INTO episodes (tenant, id, task_type, domain, complexity, start_time, end_time, outcome_type,
             step_count, created_at, updated_at, version, body, body_hash)
           VALUES ('default', ?, ?, ?, 'simple', ?, ?, ?, 6, 0, 0, 1, '{}', 'x')`,
          id,
          i % 2 ? 'debugging' : 'testing',
          i % 3 ? 'web' : 'cli',
          i * 1000,
          completed ? i * 1000 + 500 : null,
          completed ? (i % 3 ? 'success' : 'failure') : null,
        ),
        ...Array.from({ length: 6 }, (_, k) =>
          sql(
            `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, body)
             VALUES ('default', ?, ?, 0, ?, ?, ?)`,
            id,
            k + 1,
            ['bash', 'grep', 'edit'][(i + k * (1 + (i % 2))) % 3] as string,
            (i + k) % 4 === 0 ? 'error' : 'success',
            JSON.stringify({ latency_ms: i + k }),
          ),
        ),
      );
    }
    const mined = async (db: Database) => ({
      grams: await db.read(
        'SELECT * FROM suggestion_grams ORDER BY tenant, kind, domain, key, tools, episode_id',
      ),
      totals: await db.read(
        'SELECT * FROM suggestion_totals ORDER BY tenant, kind, domain, key, tools, task_type',
      ),
    });
    const before = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(
      before,
      MIGRATIONS.filter((m) => m.version < 6),
    );
    await before.write(rows);
    expect((await migrate(before))[0]).toBe(6);
    const after = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(after);
    await after.write(rows);
    const backfilled = await mined(before);
    expect(backfilled.totals.length).toBeGreaterThan(0);
    expect(backfilled).toEqual(await mined(after));
  });

  it('migration 7 on a database with in-progress successes - recounts the stats as its triggers keep them', async () => {
    // Episodes with a success outcome, completed or still in progress, written before migration 7 (counted by
    // migration 3's triggers, then recounted) and after it (counted by migration 7's triggers).
    const rows = Array.from({ length: 12 }, (_, i) =>
      sql(
        `INSERT INTO episodes (tenant, id, task_type, domain, complexity, start_time, end_time, outcome_type,
           step_count, created_at, updated_at, version, body, body_hash)
         VALUES ('default', ?, 'testing', ?, 'simple', 0, ?, ?, 0, 0, 0, 1, '{}', 'x')`,
        `0000000${i.toString(16)}-0000-7000-8000-000000000000`,
        i % 3 ? 'web' : 'cli',
        i % 2 ? 500 : null,
        i % 4 === 3 ? 'failure' : 'success',
      ),
    );
    const stats = (db: Database) => db.read('SELECT * FROM stats_episodes ORDER BY tenant, dimension, value');
    const before = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(
      before,
      MIGRATIONS.filter((m) => m.version < 7),
    );
    await before.write(rows);
    expect((await migrate(before))[0]).toBe(7);
    const after = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(after);
    await after.write(rows);
    const recounted = await stats(before);
    expect(recounted.every((row) => Number(row.successes) <= Number(row.completed))).toBe(true);
    expect(recounted).toEqual(await stats(after));
  });

  it('migration 5 on a database with episodes and steps - builds the rollups its triggers keep', async () => {
    // The same episodes and steps, written before migration 5 (counted by its backfill) and after it (counted
    // by its triggers, row by row): archived or not, in progress or completed, with and without an agent or a
    // reward, over several hours and days (before 1970 too: the start of an hour of a negative time).
    const HOUR = 3_600_000;
    const rows: Statement[] = [];
    for (let i = 0; i < 16; i++) {
      const id = `0000000${i.toString(16)}-0000-7000-8000-000000000000`;
      const start = (i - 3) * 7 * HOUR + i * 61_000;
      const completed = i % 4 !== 3;
      rows.push(
        sql(
          `INSERT INTO episodes (tenant, id, agent_id, task_type, domain, complexity, start_time, end_time,
             outcome_type, reward_total, archived, step_count, created_at, updated_at, version, body, body_hash)
           VALUES (?, ?, ?, ?, ?, 'simple', ?, ?, ?, ?, ?, 3, 0, 0, 1, '{}', 'x')`,
          i % 5 === 4 ? 'other-tenant' : 'default',
          id,
          i % 3 ? `agent-${i % 2}` : null,
          i % 2 ? 'debugging' : 'testing',
          i % 3 ? 'web' : 'cli',
          start,
          completed ? start + 2 * HOUR : null,
          i % 4 === 2 ? 'failure' : 'success', // in-progress successes too: they count once completed
          i % 3 === 1 ? null : i / 4 - 1,
          i % 7 === 6 ? 1 : 0,
        ),
        ...Array.from({ length: 3 }, (_, k) =>
          sql(
            `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, result_type, body)
             VALUES (?, ?, ?, ?, ?, 'success', '{}')`,
            i % 5 === 4 ? 'other-tenant' : 'default',
            id,
            k + 1,
            start + k * 40 * 60_000,
            ['bash', 'grep', 'edit'][(i + k) % 3] as string,
          ),
        ),
      );
    }
    const tables = [
      'episode_days',
      'episode_hours',
      'episode_kind_hours',
      'tool_days',
      'tool_hours',
      'tool_kind_hours',
    ];
    // Each table in full, in the order of its key (WITHOUT ROWID: a full scan walks the primary key).
    const rollups = async (db: Database) =>
      Object.fromEntries(
        await Promise.all(tables.map(async (t) => [t, await db.read(`SELECT * FROM ${t}`)])),
      );
    const before = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(
      before,
      MIGRATIONS.filter((m) => m.version < 5),
    );
    await before.write(rows);
    expect((await migrate(before))[0]).toBe(5);
    const after = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(after);
    await after.write(rows);
    const backfilled = await rollups(before);
    for (const t of tables) expect(backfilled[t].length, t).toBeGreaterThan(1);
    expect(backfilled).toEqual(await rollups(after));
  });

  it('migration 8 on a database with located episodes and steps - rebuilds the R*Tree in weeks, as its writes do', async () => {
    // Located episodes (completed and in progress) and steps, indexed with migration 1's time axis (seconds,
    // open ends at 1e12) before migration 8, and with the weeks the code writes after it.
    const HOUR = 3_600_000;
    const base = Date.parse('2026-03-01T00:00:00.000Z');
    const rows = (seconds: boolean): Statement[] =>
      Array.from({ length: 10 }, (_, i) => {
        const id = `0000000${i.toString(16)}-0000-7000-8000-000000000000`;
        const start = base + i * 5 * HOUR;
        const end = i % 3 === 2 ? null : start + i * HOUR;
        const t = (ms: number | null) => (seconds ? (ms === null ? 1e12 : ms / 1000) : indexTime(ms));
        const box = (lat: number, lon: number, t0: number, t1: number | null) =>
          sql(
            `INSERT INTO spatiotemporal_index (id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)
             VALUES (last_insert_rowid(), ?, ?, ?, ?, ?, ?)`,
            lat,
            lat,
            lon,
            lon,
            t(t0),
            t(t1),
          );
        const [lat, lon] = [i * 8 - 40, i * 35 - 170];
        return [
          sql(
            `INSERT INTO episodes (tenant, id, task_type, domain, complexity, start_time, end_time, step_count,
               created_at, updated_at, version, body, body_hash)
             VALUES ('default', ?, 'testing', 'web', 'simple', ?, ?, 1, 0, 0, 1, '{}', 'x')`,
            id,
            start,
            end,
          ),
          sql(
            `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, body)
             VALUES ('default', ?, 1, ?, 'bash', '{}')`,
            id,
            start + HOUR,
          ),
          sql(
            `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon)
             VALUES ('default', ?, 0, ?, ?)`,
            id,
            lat,
            lon,
          ),
          box(lat, lon, start, end),
          sql(
            `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon)
             VALUES ('default', ?, 1, ?, ?)`,
            id,
            lat + 0.5,
            lon,
          ),
          box(lat + 0.5, lon, start + HOUR, start + HOUR),
        ];
      }).flat();
    const index = (db: Database) => db.read('SELECT * FROM spatiotemporal_index ORDER BY id');
    const before = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(
      before,
      MIGRATIONS.filter((m) => m.version < 8),
    );
    await before.write(rows(true));
    expect((await index(before)).some((r) => Number(r.max_t) >= 1e12)).toBe(true);
    expect(
      await migrate(
        before,
        MIGRATIONS.filter((m) => m.version <= 8),
      ),
    ).toEqual([8]);
    const after = open(`file:${join(tempDir(), 'engram.db')}`);
    await migrate(after);
    await after.write(rows(false));
    const rebuilt = await index(before);
    expect(rebuilt).toHaveLength(20);
    expect(rebuilt).toEqual(await index(after));
    // The tree still answers (and its entries' boxes still go with them).
    const [hit] = await before.read(
      'SELECT COUNT(*) AS n FROM spatiotemporal_index WHERE min_t <= ? AND max_t >= ?',
      [indexTime(base + 100 * HOUR), indexTime(base + 100 * HOUR)],
    );
    expect(Number(hit?.n)).toBe(3); // the in-progress episodes 2, 5 and 8 span "until now"
    await before.write([sql("DELETE FROM episodes WHERE id LIKE '00000002-%'")]);
    expect(await index(before)).toHaveLength(18);
  });
  /** A fresh database on `backend`: a file, or a sqld of its own. */
  async function fresh(backend: 'file' | 'sqld'): Promise<Database> {
    if (backend === 'file') return open(`file:${join(tempDir(), 'engram.db')}`);
    const sqld: SqldHandle = await startSqld({ kind: 'binary', quiet: true });
    cleanups.push(() => sqld.stop());
    return open(sqld.url);
  }

  it.each(['file', 'sqld'] as const)(
    'migration 9 on a database with located episodes and steps (%s) - fills the entries in chunks, resumes after a crash, as its triggers do',
    async (backend) => {
      // 6,000 located episodes (some in progress, some archived) with a located step each: 12,000 entries, more
      // than two backfill chunks. Written before migration 9 (filled by its backfill) and after it (by its trigger).
      const HOUR = 3_600_000;
      const base = Date.parse('2026-03-01T00:00:00.000Z');
      const rows: Statement[] = [
        sql(
          `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 5999)
         INSERT INTO episodes (tenant, id, task_type, domain, complexity, start_time, end_time, archived, step_count,
           created_at, updated_at, version, body, body_hash)
         SELECT 'default', printf('%08x-0000-7000-8000-000000000000', i), 'testing', 'web', 'simple', ? + i * ?,
           CASE WHEN i % 3 = 2 THEN NULL ELSE ? + i * ? + (i % 7) * ? END, i % 5 = 0, 1, 0, 0, 1, '{}', 'x'
         FROM n`,
          base,
          HOUR,
          base,
          HOUR,
          HOUR,
        ),
        sql(
          `INSERT INTO steps (tenant, episode_id, step_number, timestamp, tool, body)
         SELECT tenant, id, 1, start_time + ?, 'bash', '{}' FROM episodes`,
          HOUR / 2,
        ),
        sql(
          `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon)
         SELECT tenant, id, 0, (rowid % 180) - 90, (rowid % 360) - 180 FROM episodes ORDER BY rowid`,
        ),
        sql(
          `INSERT INTO spatiotemporal_entries (tenant, episode_id, step_number, lat, lon)
         SELECT tenant, episode_id, 1, 1, 2 FROM steps ORDER BY episode_id`,
        ),
      ];
      const entries = (db: Database) =>
        db.read(
          'SELECT id, episode_id, step_number, start_time, end_time, archived FROM spatiotemporal_entries ORDER BY id',
        );
      const nine = MIGRATIONS.find((m) => m.version === 9);
      if (!nine?.backfill) throw new Error('migration 9 has a backfill');
      const before = await fresh(backend);
      await migrate(
        before,
        MIGRATIONS.filter((m) => m.version < 9),
      );
      await before.write(rows);
      // Migration 9 and one chunk of its backfill, then a crash: the next start finishes the backfill.
      await before.write([
        sql('INSERT INTO schema_migrations (version, name, applied_at) VALUES (9, ?, 0)', nine.name),
        ...nine.statements.map((s) => sql(s)),
      ]);
      await before.write(nine.backfill.map((s) => sql(s)));
      const [progress] = await before.read('SELECT next_id, last_id FROM schema_backfills WHERE version = 9');
      expect(Number(progress?.next_id)).toBeLessThan(Number(progress?.last_id));
      // Migration 9 is not applied again (only the ones after it are): its backfill resumes.
      expect(await migrate(before)).toEqual(MIGRATIONS.filter((m) => m.version > 9).map((m) => m.version));
      expect(await before.read('SELECT * FROM schema_backfills')).toEqual([]);

      const after = await fresh(backend);
      await migrate(after);
      await after.write(rows);
      const filled = await entries(before);
      expect(filled).toHaveLength(12_000);
      expect(filled.filter((r) => r.start_time === null || r.archived === null)).toEqual([]);
      expect(filled.some((r) => r.end_time === null)).toBe(true);
      expect(filled.some((r) => Number(r.archived) === 1)).toBe(true);
      expect(filled).toEqual(await entries(after));
      // Completing or archiving an episode reaches its entries.
      await before.write([
        sql("UPDATE episodes SET end_time = start_time + 1, archived = 1 WHERE id LIKE '00000002-%'"),
      ]);
      const changed = await before.read(
        "SELECT step_number, start_time, end_time, archived FROM spatiotemporal_entries WHERE episode_id LIKE '00000002-%' ORDER BY step_number",
      );
      const start = base + 2 * HOUR;
      expect(changed.map((r) => [r.step_number, r.start_time, r.end_time, r.archived].map(Number))).toEqual([
        [0, start, start + 1, 1],
        [1, start + HOUR / 2, start + HOUR / 2, 1],
      ]);
    },
  );
  it('migration 10 on a database with vectors - the filtered exact search lists them from the index alone', async () => {
    const db = await fresh('file');
    await migrate(
      db,
      MIGRATIONS.filter((m) => m.version < 10),
    );
    await db.write([
      sql(
        `INSERT INTO embedding_models (tenant, name, dimension, metric, created_at) VALUES ('default', 'm', 2, 'cosine', 0)`,
      ),
      ...Array.from({ length: 20 }, (_, i) =>
        sql(
          `INSERT INTO embeddings (tenant, model_id, item_type, item_id, episode_id, vector, indexed, version, created_at, updated_at)
           VALUES ('default', 1, ?, ?, ?, ?, 0, ?, ?, 0)`,
          i % 2 ? 'episode' : 'step',
          i % 2 ? `e${i}` : `e${i - (i % 2)}:1`,
          `e${i - (i % 2)}`,
          new Uint8Array(Float32Array.from([i, 1]).buffer),
          1 + (i % 3),
          i,
        ),
      ),
    ]);
    const listed = (x: Database) =>
      x.read(
        `SELECT episode_id, model_id, item_type, version, created_at FROM embeddings INDEXED BY embeddings_by_episode
         WHERE tenant = 'default' AND episode_id IS NOT NULL ORDER BY episode_id, item_type`,
      );
    const before = await listed(db);
    expect(before).toHaveLength(20);
    expect(
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.version <= 10),
      ),
    ).toEqual([10]);
    expect(await listed(db)).toEqual(before);
    const plan = await db.read(
      `EXPLAIN QUERY PLAN SELECT id, version, created_at FROM embeddings INDEXED BY embeddings_by_episode
       WHERE tenant = 'default' AND episode_id = 'e2' AND model_id = 1`,
    );
    expect(plan.map((r) => String(r.detail)).join('\n')).toMatch(/COVERING INDEX embeddings_by_episode/);
    expect(await db.read('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  });

  it("migration 12 on a database with vectors - a deleted vector's id is never given again", async () => {
    const db = await fresh('file');
    await migrate(
      db,
      MIGRATIONS.filter((m) => m.version < 12),
    );
    await db.write([
      sql(
        `INSERT INTO embedding_models (tenant, name, dimension, metric, created_at) VALUES ('default', 'm', 2, 'cosine', 0)`,
      ),
      ...[1, 2, 3].map((i) =>
        sql(
          `INSERT INTO embeddings (tenant, model_id, item_type, item_id, vector, created_at, updated_at)
           VALUES ('default', 1, 'pattern', ?, ?, 0, 0)`,
          `p${i}`,
          new Uint8Array(Float32Array.from([i, 1]).buffer),
        ),
      ),
    ]);
    expect(await migrate(db)).toEqual([12]);
    const put = (id: string, x: number) =>
      vectorInsert('default', { type: 'pattern', id }, { model: 'm', vector: [x, 1] }, 0);
    const ids = async () =>
      (await db.read('SELECT item_id, id FROM embeddings ORDER BY id')).map((r) => [r.item_id, Number(r.id)]);
    expect(await ids()).toEqual([
      ['p1', 1],
      ['p2', 2],
      ['p3', 3],
    ]);
    // Without migration 12, p4 would take id 3 (max + 1 after the delete).
    await db.write([sql("DELETE FROM embeddings WHERE item_id = 'p3'")]);
    await db.write([put('p4', 4)]);
    await db.write([put('p1', 5)]); // a replacement keeps its id and takes none
    await db.write([sql("DELETE FROM embeddings WHERE item_id = 'p4'")]);
    await db.write([put('p5', 6)]);
    expect(await ids()).toEqual([
      ['p1', 1],
      ['p2', 2],
      ['p5', 5],
    ]);
    expect(await db.read('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  });
});
