import { z } from 'zod';
import { boundedString, Name, TimestampOut, Uuid, withoutNul } from './common.js';
import { EpisodeFilter } from './episode-list.js';
import { MAX_BATCH_EMBEDDINGS, MAX_QUERY_TEXT_CHARS, MAX_SIMILAR_K } from './limits.js';
import { Vector } from './vector.js';

export { Vector } from './vector.js';

// Embeddings and semantic search (SPEC §3.4).

export const ItemType = z.enum(['episode', 'step', 'pattern', 'heuristic']);
export type ItemType = z.infer<typeof ItemType>;

/** A step's item id: its episode's id and its number, `<episode id>:<step number>`. */
const STEP_ITEM_ID =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}):([1-9][0-9]{0,6})$/;

/** The episode an item belongs to (an episode itself, a step's episode); null for other item types. */
export function episodeOfItem(type: ItemType, id: string): string | null {
  if (type === 'episode') return id;
  if (type === 'step') return STEP_ITEM_ID.exec(id)?.[1] ?? null;
  return null;
}

/** Why `id` is not an id of an item of `type`, or undefined. */
export function itemIdProblem(type: ItemType, id: string): string | undefined {
  if (type === 'step') {
    return STEP_ITEM_ID.test(id)
      ? undefined
      : 'a step is named <episode id>:<step number>, e.g. 0190a6e2-7b7c-7cc4-8a8e-5a6a1b2c3d4e:3';
  }
  return Uuid.safeParse(id).success ? undefined : 'must be a UUID in lower-case hyphenated form';
}

export const ItemId = z.string().max(60).describe('A UUID; for a step, <episode id>:<step number>');

export const ModelName = Name.describe('Embedding model name, ≤ 200 characters, e.g. all-MiniLM-L6-v2');

/** Body of `PUT /v1/embeddings/{item_type}/{item_id}?model=`. */
export const EmbeddingPut = z.strictObject({ vector: Vector });

export const EmbeddingPath = z
  .strictObject({ item_type: ItemType, item_id: ItemId })
  .superRefine((p, ctx) => {
    const problem = itemIdProblem(p.item_type, p.item_id);
    if (problem) ctx.addIssue({ code: 'custom', path: ['item_id'], message: problem });
  });

export const ModelQuery = z.strictObject({ model: ModelName });

export const EmbeddingRecord = z.strictObject({
  item_type: ItemType,
  item_id: z.string(),
  model: z.string(),
  dimension: z.int(),
  vector: z.array(z.number()).describe('As stored: float32 values'),
  created_at: TimestampOut,
  updated_at: TimestampOut,
  version: z.int().describe('Also the ETag'),
});
export type EmbeddingRecord = z.infer<typeof EmbeddingRecord>;

/** One vector of a batch. */
export const EmbeddingBatchItem = z.strictObject({
  item_type: ItemType,
  item_id: ItemId,
  model: ModelName,
  vector: Vector,
});
export type EmbeddingBatchItem = z.infer<typeof EmbeddingBatchItem>;

export const EmbeddingBatch = z
  .strictObject({
    items: z
      .array(EmbeddingBatchItem)
      .min(1)
      .max(MAX_BATCH_EMBEDDINGS, `must have at most ${MAX_BATCH_EMBEDDINGS} vectors`),
  })
  .superRefine((batch, ctx) => {
    const seen = new Set<string>();
    batch.items.forEach((item, i) => {
      const problem = itemIdProblem(item.item_type, item.item_id);
      if (problem) ctx.addIssue({ code: 'custom', path: ['items', i, 'item_id'], message: problem });
      const key = JSON.stringify([item.item_type, item.item_id, item.model]);
      if (seen.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['items', i],
          message: 'the same item and model appear twice: one vector per (item, model)',
        });
      }
      seen.add(key);
    });
  })
  .describe(`Up to ${MAX_BATCH_EMBEDDINGS} vectors, stored atomically: all or none`);
export type EmbeddingBatch = z.infer<typeof EmbeddingBatch>;

export const DiskAnnOptions = z.strictObject({
  compress_neighbors: z
    .enum(['float1bit', 'float8', 'float16', 'floatb16', 'float32'])
    .describe('How neighbour vectors are stored in the index'),
  max_neighbors: z.int().min(4).max(256).describe('Edges per node'),
  search_l: z.int().min(10).max(1000).describe('Candidates visited per search'),
  insert_l: z.int().min(10).max(1000).describe('Candidates visited per insert'),
});
export type DiskAnnOptions = z.infer<typeof DiskAnnOptions>;

/** DiskANN options from `k=v,k=v` text (EMBEDDING_INDEX_OPTIONS), or what is wrong with it. */
export function diskAnnOptionsOf(text: string): DiskAnnOptions | string {
  const raw = Object.fromEntries(
    text.split(',').map((pair) => {
      const [key = '', value = ''] = pair.trim().split('=');
      return [key, key === 'compress_neighbors' ? value : Number(value)];
    }),
  );
  const parsed = DiskAnnOptions.safeParse(raw);
  if (parsed.success) return parsed.data;
  return parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ');
}

export const EmbeddingModel = z.strictObject({
  name: z.string(),
  dimension: z.int(),
  metric: z.literal('cosine'),
  count: z.int().describe('Vectors stored'),
  unindexed: z.int().describe('Vectors not yet in the DiskANN index (searches scan them exactly)'),
  index: DiskAnnOptions.describe(
    "The DiskANN parameters of its index, fixed when the index is created: the server's EMBEDDING_INDEX_OPTIONS, by default compress_neighbors=float8, max_neighbors=64, search_l=100, insert_l=40 (chosen from measured insert cost, search time and recall@10 on clustered 384-d data; see the README)",
  ),
  created_at: TimestampOut,
});
export type EmbeddingModel = z.infer<typeof EmbeddingModel>;

/** Reciprocal rank fusion's constant: each list adds 1 / (RRF_K + rank) for an item it ranks. */
export const RRF_K = 60;
/** How deep each list goes into a hybrid fusion: its best RRF_DEPTH items (≥ the largest k). */
export const RRF_DEPTH = MAX_SIMILAR_K;

export const SimilarSearch = z
  .strictObject({
    model: ModelName.optional().describe('The model of `vector` or `item` (required with them)'),
    vector: Vector.optional().describe('The query vector; or give `item`'),
    item: z
      .strictObject({ type: ItemType, id: ItemId })
      .optional()
      .describe('Search with the stored vector of this item (in `model`); the item itself is left out'),
    // FTS5 reads its query up to a NUL, which would leave a quoted term open.
    q: withoutNul(boundedString(1, MAX_QUERY_TEXT_CHARS))
      .optional()
      .describe(
        'Full-text terms over episodes (the FTS of GET /v1/episodes) that RANK: alone, by BM25; with a vector, fused by reciprocal rank. (filter.q restricts instead.)',
      ),
    k: z.int().min(1).max(MAX_SIMILAR_K).default(10).describe(`Results, 1..${MAX_SIMILAR_K}`),
    min_similarity: z
      .number()
      .min(-1)
      .max(1)
      .optional()
      .describe('Leave out vector results below this (the text list is not affected)'),
    item_type: ItemType.optional().describe('Only items of this type'),
    filter: EpisodeFilter.optional().describe(
      'Every filter of GET /v1/episodes, combined with AND, on the episode an item belongs to (an episode, or a step’s episode); items of other types never match a filter. filter.q restricts, the top-level q ranks',
    ),
  })
  .superRefine((s, ctx) => {
    if (s.vector !== undefined && s.item !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['vector'], message: 'give at most one of vector and item' });
    }
    if (s.vector === undefined && s.item === undefined && s.q === undefined) {
      ctx.addIssue({ code: 'custom', path: ['vector'], message: 'give vector, item or q' });
    }
    const byVector = s.vector !== undefined || s.item !== undefined;
    if (byVector !== (s.model !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['model'],
        message: byVector ? 'required with vector or item' : 'given only with vector or item',
      });
    }
    if (s.q !== undefined && s.q.trim() === '') {
      ctx.addIssue({ code: 'custom', path: ['q'], message: 'must have at least one term' });
    }
    const problem = s.item && itemIdProblem(s.item.type, s.item.id);
    if (problem) ctx.addIssue({ code: 'custom', path: ['item', 'id'], message: problem });
  });
export type SimilarSearch = z.infer<typeof SimilarSearch>;

export const SimilarResult = z.strictObject({
  items: z.array(
    z.strictObject({
      item_type: ItemType,
      item_id: z.string(),
      similarity: z
        .number()
        .nullable()
        .describe(
          'Cosine similarity in [-1, 1] to the query vector: a·b / (|a| |b|), over the float32 vectors; null when there is no query vector or the item has no vector in the model',
        ),
      score: z
        .number()
        .describe(
          'What the items are ordered by (higher first): the similarity (vector only), −bm25 (q only), or the reciprocal rank fusion score (both)',
        ),
      item: z
        .record(z.string(), z.unknown())
        .nullable()
        .describe(
          'The item’s record (an episode, a step, a pattern or a heuristic); null only if it was deleted during the search',
        ),
    }),
  ),
  ranking: z
    .enum(['vector', 'bm25', 'rrf'])
    .describe('vector: by similarity; bm25: full text only; rrf: reciprocal rank fusion of both lists'),
  strategy: z
    .enum(['index', 'exact', 'text'])
    .describe(
      'How the vector list was found: index (DiskANN candidates re-ranked exactly) or exact (a scan of every matching vector); text when there was no query vector',
    ),
});
export type SimilarResult = z.infer<typeof SimilarResult>;
