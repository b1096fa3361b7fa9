import type {
  EmbeddingBatchItem,
  EmbeddingModel,
  EpisodeFilterBody,
  ItemType,
  SimilarSearch,
} from '../domain/embedding.js';
import { EmbeddingDimensionMismatch, EmbeddingModelNotFound, EmbeddingNotFound } from '../domain/errors.js';
import type {
  EmbeddingRepository,
  SimilarHits,
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

  /** The k items most similar to a vector, or to an item's stored vector (the item itself left out). */
  async similar(tenant: string, search: SimilarSearch): Promise<SimilarHits> {
    const model = await this.embeddings.model(tenant, search.model);
    if (!model) throw new EmbeddingModelNotFound(search.model);
    const item = search.item && { type: search.item.type, id: search.item.id };
    const vector = item ? (await this.get(tenant, item, search.model)).vector : (search.vector as number[]);
    if (vector.length !== model.dimension) {
      throw new EmbeddingDimensionMismatch(vector.length, search.model, model.dimension);
    }
    return this.embeddings.similar(tenant, {
      model,
      vector,
      k: search.k,
      minSimilarity: search.min_similarity,
      itemType: search.item_type,
      filter: search.filter && episodeFilter(search.filter),
      exclude: item,
    });
  }
}

const episodeFilter = ({ metadata, ...filter }: EpisodeFilterBody) => ({
  ...filter,
  metadata: metadata ?? {},
});
