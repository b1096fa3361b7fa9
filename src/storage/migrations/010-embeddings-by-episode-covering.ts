import type { Migration } from './migration.js';

// A filtered similarity search finds the matching vectors from the filtered episodes, and an exact one needs
// only each vector's row id and what identifies its content (version, created_at: see `VectorCache`). With
// those (and the model and item type it is conditioned on) in the index, finding the 5,000 vectors of one
// domain at 100k reads no vector row: 3.3 against 4.8 ms (bench/RESULTS.md). The name stays: statements of
// an instance still running the previous version (a rolling start) name it in INDEXED BY.
//
// One statement builds it: ~0.13 s at 100k vectors (its entries are ~80 bytes), inside sqld's 5 s.
export const embeddingsByEpisodeCovering: Migration = {
  version: 10,
  name: 'embeddings by episode: a covering index for the filtered exact search',
  statements: [
    'DROP INDEX embeddings_by_episode',
    `CREATE INDEX embeddings_by_episode ON embeddings (tenant, episode_id, model_id, item_type, version, created_at)
       WHERE episode_id IS NOT NULL`,
  ],
};
