import type { Database } from '../db/database.js';
import { DbError } from '../db/errors.js';
import { sql } from '../db/types.js';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/**
 * Codes a write may assert with `INSERT INTO engram_assert(ok, code) VALUES (<condition>, '<code>')`:
 * the guard aborts the write's transaction with `ENGRAM_ASSERT:<code>` when the condition is false. This
 * keeps check-then-write atomic inside one batch, with no interactive transaction (RELIABILITY.md).
 * RAISE() takes only a literal message, hence one trigger per code; new codes need a new migration.
 */
export const ASSERT_CODES = [
  'EPISODE_NOT_FOUND',
  'VERSION_MISMATCH',
  'EPISODE_ALREADY_COMPLETED',
  'EPISODE_COMPLETED',
  'STEP_LIMIT_EXCEEDED',
  'EMBEDDING_DIMENSION_MISMATCH',
] as const;
export type AssertCode = (typeof ASSERT_CODES)[number];

const assertTriggers = (codes: readonly string[]) => [
  `CREATE VIEW engram_assert AS SELECT 1 AS ok, '' AS code`,
  ...codes.map(
    (code) =>
      `CREATE TRIGGER engram_assert_${code.toLowerCase()} INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = '${code}' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:${code}'); END`,
  ),
];

// Times are INTEGER milliseconds since the epoch (UTC). Every row carries its tenant.
// `body` holds the record's remaining fields as JSON, exactly as accepted; filterable fields are columns.
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'episodes, steps, tags, full-text, embeddings, spatiotemporal index, idempotency keys',
    statements: [
      ...assertTriggers(ASSERT_CODES),
      `CREATE TABLE episodes (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        agent_id TEXT,
        session_id TEXT,
        task_type TEXT NOT NULL,
        domain TEXT NOT NULL,
        language TEXT,
        complexity TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        outcome_type TEXT,
        reward_total REAL,
        archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
        step_count INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
      )`,
      // One index per list filter, each ending in the sort key so a page is an index range, not a sort.
      'CREATE INDEX episodes_by_start ON episodes (tenant, archived, start_time DESC, id DESC)',
      'CREATE INDEX episodes_by_domain ON episodes (tenant, domain, archived, start_time DESC, id DESC)',
      'CREATE INDEX episodes_by_task_type ON episodes (tenant, task_type, archived, start_time DESC, id DESC)',
      'CREATE INDEX episodes_by_agent ON episodes (tenant, agent_id, start_time DESC, id DESC) WHERE agent_id IS NOT NULL',
      'CREATE INDEX episodes_by_session ON episodes (tenant, session_id, start_time DESC, id DESC) WHERE session_id IS NOT NULL',
      'CREATE INDEX episodes_by_language ON episodes (tenant, language, start_time DESC, id DESC) WHERE language IS NOT NULL',
      'CREATE INDEX episodes_by_outcome ON episodes (tenant, outcome_type, start_time DESC, id DESC) WHERE outcome_type IS NOT NULL',
      'CREATE INDEX episodes_by_reward ON episodes (tenant, archived, reward_total DESC, id DESC) WHERE reward_total IS NOT NULL',
      `CREATE TABLE episode_tags (
        tenant TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (tenant, episode_id, tag),
        FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
      'CREATE INDEX episode_tags_by_tag ON episode_tags (tenant, tag, episode_id)',
      `CREATE TABLE steps (
        tenant TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        step_number INTEGER NOT NULL CHECK (step_number >= 1),
        timestamp INTEGER NOT NULL,
        tool TEXT NOT NULL,
        result_type TEXT,
        agent_id TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (tenant, episode_id, step_number),
        FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
      'CREATE INDEX steps_by_time ON steps (tenant, timestamp DESC, episode_id DESC, step_number DESC)',
      'CREATE INDEX steps_by_tool ON steps (tenant, tool, timestamp DESC, episode_id DESC, step_number DESC)',
      'CREATE INDEX steps_by_agent ON steps (tenant, agent_id, timestamp DESC, episode_id DESC, step_number DESC) WHERE agent_id IS NOT NULL',
      // Full text over description, verdict/reason and reflection; rows keyed by the episode's rowid.
      `CREATE VIRTUAL TABLE episodes_fts USING fts5(text, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`,
      `CREATE TRIGGER episodes_fts_delete AFTER DELETE ON episodes BEGIN
         DELETE FROM episodes_fts WHERE rowid = OLD.rowid;
       END`,
      `CREATE TABLE embedding_models (
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        dimension INTEGER NOT NULL CHECK (dimension BETWEEN 1 AND 4096),
        metric TEXT NOT NULL DEFAULT 'cosine',
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, name)
      ) WITHOUT ROWID`,
      `CREATE TABLE embeddings (
        tenant TEXT NOT NULL,
        item_type TEXT NOT NULL CHECK (item_type IN ('episode', 'step', 'pattern', 'heuristic')),
        item_id TEXT NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, item_type, item_id, model),
        FOREIGN KEY (tenant, model) REFERENCES embedding_models (tenant, name)
      ) WITHOUT ROWID`,
      `CREATE TRIGGER episodes_embeddings_delete AFTER DELETE ON episodes BEGIN
         DELETE FROM embeddings WHERE tenant = OLD.tenant AND item_type = 'episode' AND item_id = OLD.id;
       END`,
      // R*Tree over (lat, lon, time in seconds); 32-bit floats, so a coarse filter re-checked exactly.
      'CREATE VIRTUAL TABLE spatiotemporal_index USING rtree(id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)',
      `CREATE TABLE spatiotemporal_entries (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        step_number INTEGER NOT NULL DEFAULT 0,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        UNIQUE (tenant, episode_id, step_number),
        FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, id) ON DELETE CASCADE
      )`,
      `CREATE TRIGGER spatiotemporal_entries_delete AFTER DELETE ON spatiotemporal_entries BEGIN
         DELETE FROM spatiotemporal_index WHERE id = OLD.id;
       END`,
      `CREATE TABLE idempotency_keys (
        tenant TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, key)
      ) WITHOUT ROWID`,
      'CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at)',
    ],
  },
];

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

export const latestSchemaVersion = (migrations: readonly Migration[] = MIGRATIONS) =>
  migrations.reduce((max, m) => Math.max(max, m.version), 0);

export async function schemaVersion(db: Database): Promise<number> {
  const rows = await db.read('SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations');
  return Number(rows[0]?.version ?? 0);
}

/**
 * Applies pending migrations, each in one transaction whose first statement claims its version in
 * `schema_migrations`. Two processes starting at once: the loser's claim hits the primary key, its
 * transaction rolls back whole, and it moves on — the winner has applied that migration.
 */
export async function migrate(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  // Reads first: an instance that starts while the server answers reads but not writes (sqld's write
  // livelock) finds the schema current and starts without writing anything.
  const ledger = await db.read(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  );
  if (ledger.length > 0 && (await schemaVersion(db)) >= latestSchemaVersion(migrations)) return [];
  await db.write([sql(LEDGER)]);
  const current = await schemaVersion(db);
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    try {
      await db.write([
        sql(
          'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
          m.version,
          m.name,
          Date.now(),
        ),
        ...m.statements.map((s) => sql(s)),
      ]);
      applied.push(m.version);
    } catch (err) {
      const claimedElsewhere =
        err instanceof DbError && err.kind === 'constraint' && /schema_migrations/.test(err.detail ?? '');
      if (!claimedElsewhere) throw err;
    }
  }
  return applied;
}
