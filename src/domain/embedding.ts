import { z } from 'zod';
import { MetadataKey, Name, TimestampOut, Uuid } from './common.js';
import { episodeFilterShape } from './episode-list.js';
import { MAX_BATCH_EMBEDDINGS, MAX_SIMILAR_K } from './limits.js';
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
  index: DiskAnnOptions.describe('The DiskANN parameters of its index'),
  created_at: TimestampOut,
});
export type EmbeddingModel = z.infer<typeof EmbeddingModel>;

const { q: _q, ...filterFields } = episodeFilterShape;

/** The episode list's filters in a JSON body (SPEC §3.1): an item matches through its episode. */
export const EpisodeFilterBody = z
  .strictObject({
    ...filterFields,
    q: episodeFilterShape.q.describe('Full-text condition on the episode (restricts; the top-level q ranks)'),
    metadata: z.record(MetadataKey, z.string()).optional().describe('metadata key → value equality'),
  })
  .describe(
    'Every filter of GET /v1/episodes, combined with AND, on the episode an item belongs to (an episode, or a step’s episode); items of other types never match a filter',
  );
export type EpisodeFilterBody = z.infer<typeof EpisodeFilterBody>;

export const SimilarSearch = z
  .strictObject({
    model: ModelName,
    vector: Vector.optional().describe('The query vector; or give `item`'),
    item: z
      .strictObject({ type: ItemType, id: ItemId })
      .optional()
      .describe('Search with the stored vector of this item (in `model`); the item itself is left out'),
    k: z.int().min(1).max(MAX_SIMILAR_K).default(10).describe(`Results, 1..${MAX_SIMILAR_K}`),
    min_similarity: z.number().min(-1).max(1).optional().describe('Leave out results below this'),
    item_type: ItemType.optional().describe('Only items of this type'),
    filter: EpisodeFilterBody.optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.vector === undefined) === (s.item === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['vector'], message: 'give exactly one of vector and item' });
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
        .describe('Cosine similarity in [-1, 1]: a·b / (|a| |b|), over the float32 vectors'),
      item: z
        .record(z.string(), z.unknown())
        .nullable()
        .describe(
          'The item’s record (an episode or a step); null for item types this service does not store',
        ),
    }),
  ),
  strategy: z
    .enum(['index', 'exact'])
    .describe('index: DiskANN candidates re-ranked exactly; exact: a scan of every matching vector'),
});
export type SimilarResult = z.infer<typeof SimilarResult>;
