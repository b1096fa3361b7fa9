import {
  type EmbeddingBatchItem,
  type EmbeddingModel,
  type ItemType,
  RRF_DEPTH,
  RRF_K,
  type SimilarSearch,
} from '../domain/embedding.js';
import { EmbeddingDimensionMismatch, EmbeddingModelNotFound, EmbeddingNotFound } from '../domain/errors.js';
import type {
  EmbeddingRepository,
  RankedItem,
  SimilarHit,
  StoredVector,
  UpsertResult,
} from '../storage/embedding-repository.js';
import type { Written } from '../storage/types.js';
import { changeOptimistically, type VersionPrecondition } from './common/optimistic.js';
import type { ClaimedWrites, IdempotencyKey } from './common/writes.js';

export interface Item {
  type: ItemType;
  id: string;
}

/** Embeddings and semantic search use cases (SPEC §3.4). Knows nothing of HTTP or SQL. */
export class EmbeddingService {
  constructor(
    private readonly embeddings: EmbeddingRepository,
    private readonly writes: ClaimedWrites,
  ) {}

  /** Stores an item's vector in a model (replacing the one it has); If-Match: only over that version. */
  async put(
    tenant: string,
    item: Item,
    model: string,
    vector: number[],
    precondition?: VersionPrecondition,
  ): Promise<Written<UpsertResult>> {
    const write = (expectedVersion?: number) =>
      this.writes.run(tenant, undefined, (claim) =>
        this.embeddings.upsert(tenant, [{ item, model, vector }], claim, expectedVersion),
      );
    const written = precondition
      ? await changeOptimistically(
          () => this.get(tenant, item, model),
          (current) => write(current.version),
          precondition,
        )
      : await write();
    return { value: written.value[0] as UpsertResult, replayed: written.replayed };
  }

  /** Stores up to 1,000 vectors atomically. */
  batch(
    tenant: string,
    items: EmbeddingBatchItem[],
    idempotency?: IdempotencyKey,
  ): Promise<Written<{ items: UpsertResult[] }>> {
    const writes = items.map((i) => ({
      item: { type: i.item_type, id: i.item_id },
      model: i.model,
      vector: i.vector,
    }));
    return this.writes
      .run(tenant, idempotency, (claim) => this.embeddings.upsert(tenant, writes, claim))
      .then((w) => ({ value: { items: w.value }, replayed: w.replayed }));
  }

  async get(tenant: string, item: Item, model: string): Promise<StoredVector> {
    const stored = await this.embeddings.get(tenant, item, model);
    if (!stored) throw new EmbeddingNotFound(`${item.type}/${item.id}`, model);
    return stored;
  }

  delete(
    tenant: string,
    item: Item,
    model: string,
    precondition?: VersionPrecondition,
  ): Promise<Written<null>> {
    if (!precondition) {
      return this.writes.run(tenant, undefined, (claim) =>
        this.embeddings.delete(tenant, item, model, undefined, claim),
      );
    }
    return changeOptimistically(
      () => this.get(tenant, item, model),
      (current) =>
        this.writes.run(tenant, undefined, (claim) =>
          this.embeddings.delete(tenant, item, model, current.version, claim),
        ),
      precondition,
    );
  }

  models(tenant: string): Promise<EmbeddingModel[]> {
    return this.embeddings.models(tenant);
  }

  /**
   * The k items most similar to a vector, or to an item's stored vector (the item itself left out); with
   * `q` too, the vector list and the BM25 list fused by reciprocal rank; with `q` alone, the BM25 list.
   */
  async similar(tenant: string, search: SimilarSearch): Promise<SimilarSearchResult> {
    const item = search.item && { type: search.item.type, id: search.item.id };
    const conditions = { itemType: search.item_type, filter: search.filter, exclude: item };
    const byVector = search.vector !== undefined || search.item !== undefined;
    const query =
      byVector && search.model !== undefined
        ? await this.queryVector(tenant, search.model, search)
        : undefined;
    const text =
      search.q === undefined
        ? undefined
        : await this.embeddings.textRanked(tenant, {
            text: search.q,
            k: query ? RRF_DEPTH : search.k,
            ...conditions,
          });
    if (!query) {
      const ranked = text ?? [];
      return { hits: await this.embeddings.withItems(tenant, ranked), ranking: 'bm25', strategy: 'text' };
    }
    const nearest = await this.embeddings.nearest(tenant, {
      ...query,
      k: text ? RRF_DEPTH : search.k,
      minSimilarity: search.min_similarity,
      ...conditions,
    });
    const ranked = text ? fuseByReciprocalRank([nearest.ranked, text]).slice(0, search.k) : nearest.ranked;
    return {
      hits: await this.embeddings.withItems(tenant, ranked, {
        modelId: query.model.id,
        vector: query.vector,
      }),
      ranking: text ? 'rrf' : 'vector',
      strategy: nearest.strategy,
    };
  }

  /** The search's model and query vector (given, or the item's stored one). */
  private async queryVector(
    tenant: string,
    name: string,
    search: SimilarSearch,
  ): Promise<{ model: { id: number; dimension: number }; vector: number[] }> {
    const model = await this.embeddings.model(tenant, name);
    if (!model) throw new EmbeddingModelNotFound(name);
    const item = search.item && { type: search.item.type, id: search.item.id };
    const vector = item ? (await this.get(tenant, item, name)).vector : (search.vector as number[]);
    if (vector.length !== model.dimension) {
      throw new EmbeddingDimensionMismatch(vector.length, name, model.dimension);
    }
    return { model, vector };
  }
}

export interface SimilarSearchResult {
  hits: SimilarHit[];
  ranking: 'vector' | 'bm25' | 'rrf';
  strategy: 'index' | 'exact' | 'text';
}

/**
 * Reciprocal rank fusion: an item's score is Σ 1 / (RRF_K + rank) over the lists that rank it (rank 1 is
 * the best). Ties: the item ranked earlier by an earlier list first. The item keeps a known similarity.
 */
export function fuseByReciprocalRank(lists: RankedItem[][]): RankedItem[] {
  const fused = new Map<string, RankedItem & { first: number }>();
  lists.forEach((list, l) => {
    list.forEach((r, i) => {
      const key = `${r.type}/${r.id}`;
      const add = 1 / (RRF_K + i + 1);
      const seen = fused.get(key);
      if (seen) {
        seen.score += add;
        seen.similarity ??= r.similarity;
      } else {
        fused.set(key, { ...r, score: add, first: l * RRF_DEPTH + i });
      }
    });
  });
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || a.first - b.first)
    .map(({ first: _first, ...r }) => r);
}
