import type { Migration } from './migration.js';

// A vector's row id names it in each process's vector cache (with its version and creation time). SQLite
// gives a new row max(id) + 1, so deleting the newest vector handed its id to the next one, at version 1: a
// cache that had the old vector would score it for the new row if both were created in the same millisecond.
// Each new vector now takes its id from `embedding_next_id`, which only grows: an id is never given twice.
// (AUTOINCREMENT would do the same but needs the table, and its vector indexes, rebuilt.) The count starts
// after the highest id left, so only ids deleted above it before this migration may be given once more.
export const embeddingIdsNeverReused: Migration = {
  version: 12,
  name: 'embeddings: a row id is never given twice',
  statements: [
    'CREATE TABLE embedding_next_id (next INTEGER NOT NULL)',
    'INSERT INTO embedding_next_id (next) SELECT COALESCE(MAX(id), 0) + 1 FROM embeddings',
    `CREATE TRIGGER embeddings_next_id AFTER INSERT ON embeddings BEGIN
         UPDATE embedding_next_id SET next = NEW.id + 1 WHERE next <= NEW.id;
       END`,
  ],
};
