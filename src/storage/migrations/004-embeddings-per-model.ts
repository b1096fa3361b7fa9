import type { Migration } from './migration.js';

/**
 * Vectors searchable by libSQL's DiskANN index (SPEC §3.4). DiskANN needs a typed column of one dimension
 * (`F32_BLOB(d)`), so each model gets its own index table `embedding_index_<model id>` — created at run time
 * when the model's first vector is indexed (see storage/libsql/embedding-index.ts), never here: a migration
 * is static SQL and models are data. This migration makes the store of record that those tables derive from:
 * - `embedding_models` gains an integer id (the index table's name) and the DiskANN options it was created
 *   with (`index_options`, JSON; NULL for models carried over: they take the defaults of their first index);
 * - `embeddings` gets a rowid (`id`, the rowid of the vector in its model's index table), the owning episode
 *   (`episode_id`, so a similarity search filters by the episode list's filters) and `indexed` (0 until the
 *   indexer has put the current vector into the index: searches scan those rows exactly), and a `version`
 *   (the ETag of a stored vector);
 * - items' vectors are deleted with their episode or step by triggers; other item types compose
 *   `embeddingDeletes` into their own delete.
 * Existing models and vectors are carried over (vectors unindexed: the indexer picks them up).
 */
export const embeddingsPerModel: Migration = {
  version: 4,
  name: 'embeddings: models with ids and index options, vectors with rowids, owning episode, index state',
  statements: [
    `CREATE TABLE embedding_models_new (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        dimension INTEGER NOT NULL CHECK (dimension BETWEEN 1 AND 4096),
        metric TEXT NOT NULL DEFAULT 'cosine' CHECK (metric = 'cosine'),
        index_options TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (tenant, name)
      )`,
    `INSERT INTO embedding_models_new (tenant, name, dimension, metric, index_options, created_at)
       SELECT tenant, name, dimension, metric, NULL, created_at FROM embedding_models ORDER BY created_at`,
    `CREATE TABLE embeddings_new (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES embedding_models_new (id),
        item_type TEXT NOT NULL CHECK (item_type IN ('episode', 'step', 'pattern', 'heuristic')),
        item_id TEXT NOT NULL,
        episode_id TEXT,
        vector BLOB NOT NULL,
        indexed INTEGER NOT NULL DEFAULT 0 CHECK (indexed IN (0, 1)),
        version INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (tenant, model_id, item_type, item_id)
      )`,
    `INSERT INTO embeddings_new (tenant, model_id, item_type, item_id, episode_id, vector, created_at, updated_at)
       SELECT e.tenant, m.id, e.item_type, e.item_id,
              CASE e.item_type WHEN 'episode' THEN e.item_id END, e.vector, e.created_at, e.updated_at
       FROM embeddings e JOIN embedding_models_new m ON m.tenant = e.tenant AND m.name = e.model`,
    'DROP TRIGGER episodes_embeddings_delete',
    'DROP TABLE embeddings',
    'DROP TABLE embedding_models',
    'ALTER TABLE embedding_models_new RENAME TO embedding_models',
    'ALTER TABLE embeddings_new RENAME TO embeddings',
    'CREATE INDEX embeddings_by_item ON embeddings (tenant, item_type, item_id)',
    'CREATE INDEX embeddings_by_episode ON embeddings (tenant, episode_id) WHERE episode_id IS NOT NULL',
    'CREATE INDEX embeddings_unindexed ON embeddings (model_id, id) WHERE indexed = 0',
    `CREATE TRIGGER episodes_embeddings_delete AFTER DELETE ON episodes BEGIN
         DELETE FROM embeddings WHERE tenant = OLD.tenant AND item_type = 'episode' AND item_id = OLD.id;
       END`,
    `CREATE TRIGGER steps_embeddings_delete AFTER DELETE ON steps BEGIN
         DELETE FROM embeddings
         WHERE tenant = OLD.tenant AND item_type = 'step' AND item_id = OLD.episode_id || ':' || OLD.step_number;
       END`,
  ],
};
