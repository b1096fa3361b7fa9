import type { EmbeddingModel, ItemType } from '../domain/embedding.js';
import type { EpisodeFilter } from '../domain/episode-list.js';
import type { WriteClaim, Written } from './types.js';

/** One vector to store. */
export interface VectorWrite {
  item: { type: ItemType; id: string };
  model: string;
  vector: number[];
}

/** A stored vector (without its model's name: the caller asked by it). */
export interface StoredVector {
  item_type: ItemType;
  item_id: string;
  model: string;
  dimension: number;
  vector: number[];
  created_at: string;
  updated_at: string;
  version: number;
}

/** What a single upsert answers: the stored vector's metadata, and whether it was new. */
export interface UpsertResult {
  item_type: ItemType;
  item_id: string;
  model: string;
  dimension: number;
  version: number;
  created_at: string;
  updated_at: string;
  created: boolean;
}

export interface SimilarQuery {
  model: { id: number; dimension: number };
  vector: number[];
  k: number;
  minSimilarity?: number | undefined;
  itemType?: ItemType | undefined;
  filter?: EpisodeFilter | undefined;
  /** Left out of the results (the item a search by item started from). */
  exclude?: { type: ItemType; id: string } | undefined;
}

/** A full-text ranking of episodes: the same FTS and the same terms as the episode list's `q`. */
export interface TextQuery {
  text: string;
  k: number;
  itemType?: ItemType | undefined;
  filter?: EpisodeFilter | undefined;
  exclude?: { type: ItemType; id: string } | undefined;
}

/** An item in a ranking: its cosine similarity to the query vector (when known) and its score. */
export interface RankedItem {
  type: ItemType;
  id: string;
  similarity: number | null;
  /** Higher first. */
  score: number;
}

export interface SimilarHit {
  item_type: ItemType;
  item_id: string;
  similarity: number | null;
  score: number;
  /** The item's record as JSON text; null if it was deleted while the search ran. */
  item: string | null;
}

export interface Nearest {
  /** Best first; each item's score is its similarity. */
  ranked: RankedItem[];
  strategy: 'index' | 'exact';
}

/**
 * Embeddings (SPEC §3.4). Writes are one transaction that starts with its claim (safe to retry); every
 * query is tenant-scoped.
 */
export interface EmbeddingRepository {
  /**
   * Stores the vectors: all or none, in one transaction. Guards: EmbeddingItemNotFound (an item that does
   * not exist), EmbeddingDimensionMismatch (naming both sizes), VersionMismatch when `expectedVersion` is
   * given (single vector only) and the stored vector is at another version. Retry: safe. Concurrency:
   * concurrent first vectors of one model agree on its dimension (the first commit fixes it).
   */
  upsert(
    tenant: string,
    writes: VectorWrite[],
    claim: WriteClaim,
    expectedVersion?: number,
  ): Promise<Written<UpsertResult[]>>;
  /** The item's vector in a model, or null. One read; safe to retry. */
  get(tenant: string, item: { type: ItemType; id: string }, model: string): Promise<StoredVector | null>;
  /**
   * Deletes the item's vector in a model. Guards: EmbeddingNotFound, VersionMismatch. One transaction;
   * safe to retry (a retry of a committed delete answers as it did).
   */
  delete(
    tenant: string,
    item: { type: ItemType; id: string },
    model: string,
    expectedVersion: number | undefined,
    claim: WriteClaim,
  ): Promise<Written<null>>;
  /** The tenant's models, by name. One read. */
  models(tenant: string): Promise<EmbeddingModel[]>;
  /** A model's id and dimension, or null. One read. */
  model(tenant: string, name: string): Promise<{ id: number; dimension: number } | null>;
  /**
   * The k most similar vectors (cosine) that match the query's conditions, best first, exactly: through
   * the index when it can fill k, else by an exact scan of the matching rows. Heavy reads: off the event
   * loop on the embedded file, under the read deadline.
   */
  nearest(tenant: string, query: SimilarQuery): Promise<Nearest>;
  /** The k episodes whose text matches best by BM25 under the query's conditions, best first. One read. */
  textRanked(tenant: string, query: TextQuery): Promise<RankedItem[]>;
  /**
   * The ranked items with their records (within the response budget: ResponseTooLarge), in order; with
   * `similarityTo`, an item without a similarity gets its vector's similarity in that model (if it has one).
   */
  withItems(
    tenant: string,
    ranked: RankedItem[],
    similarityTo?: { modelId: number; vector: number[] },
  ): Promise<SimilarHit[]>;
}
