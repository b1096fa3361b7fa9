import type { Migration } from './migration.js';

// Applied by every database since the first release: never edit a byte of it (a test pins its hash).
// Later schema changes are new migrations that carry existing data over. Its guard view and triggers were
// replaced by migration 2. Times are INTEGER milliseconds since the epoch (UTC); every row carries its
// tenant; `body` holds a record's remaining fields as JSON, exactly as accepted; filterable fields are columns.
export const initialSchema: Migration = {
  version: 1,
  name: 'episodes, steps, tags, full-text, embeddings, spatiotemporal index, idempotency keys',
  statements: [
    `CREATE VIEW engram_assert AS SELECT 1 AS ok, '' AS code`,
    `CREATE TRIGGER engram_assert_episode_not_found INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = 'EPISODE_NOT_FOUND' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:EPISODE_NOT_FOUND'); END`,
    `CREATE TRIGGER engram_assert_version_mismatch INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = 'VERSION_MISMATCH' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:VERSION_MISMATCH'); END`,
    `CREATE TRIGGER engram_assert_episode_already_completed INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = 'EPISODE_ALREADY_COMPLETED' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:EPISODE_ALREADY_COMPLETED'); END`,
    `CREATE TRIGGER engram_assert_episode_completed INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = 'EPISODE_COMPLETED' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:EPISODE_COMPLETED'); END`,
    `CREATE TRIGGER engram_assert_step_limit_exceeded INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = 'STEP_LIMIT_EXCEEDED' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:STEP_LIMIT_EXCEEDED'); END`,
    `CREATE TRIGGER engram_assert_embedding_dimension_mismatch INSTEAD OF INSERT ON engram_assert
       WHEN NOT NEW.ok AND NEW.code = 'EMBEDDING_DIMENSION_MISMATCH' BEGIN SELECT RAISE(ABORT, 'ENGRAM_ASSERT:EMBEDDING_DIMENSION_MISMATCH'); END`,
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
    `CREATE INDEX episodes_by_start ON episodes (tenant, archived, start_time DESC, id DESC)`,
    `CREATE INDEX episodes_by_domain ON episodes (tenant, domain, archived, start_time DESC, id DESC)`,
    `CREATE INDEX episodes_by_task_type ON episodes (tenant, task_type, archived, start_time DESC, id DESC)`,
    `CREATE INDEX episodes_by_agent ON episodes (tenant, agent_id, start_time DESC, id DESC) WHERE agent_id IS NOT NULL`,
    `CREATE INDEX episodes_by_session ON episodes (tenant, session_id, start_time DESC, id DESC) WHERE session_id IS NOT NULL`,
    `CREATE INDEX episodes_by_language ON episodes (tenant, language, start_time DESC, id DESC) WHERE language IS NOT NULL`,
    `CREATE INDEX episodes_by_outcome ON episodes (tenant, outcome_type, start_time DESC, id DESC) WHERE outcome_type IS NOT NULL`,
    `CREATE INDEX episodes_by_reward ON episodes (tenant, archived, reward_total DESC, id DESC) WHERE reward_total IS NOT NULL`,
    `CREATE TABLE episode_tags (
        tenant TEXT NOT NULL,
        episode_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (tenant, episode_id, tag),
        FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
    `CREATE INDEX episode_tags_by_tag ON episode_tags (tenant, tag, episode_id)`,
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
    `CREATE INDEX steps_by_time ON steps (tenant, timestamp DESC, episode_id DESC, step_number DESC)`,
    `CREATE INDEX steps_by_tool ON steps (tenant, tool, timestamp DESC, episode_id DESC, step_number DESC)`,
    `CREATE INDEX steps_by_agent ON steps (tenant, agent_id, timestamp DESC, episode_id DESC, step_number DESC) WHERE agent_id IS NOT NULL`,
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
    `CREATE VIRTUAL TABLE spatiotemporal_index USING rtree(id, min_lat, max_lat, min_lon, max_lon, min_t, max_t)`,
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
    `CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at)`,
  ],
};
