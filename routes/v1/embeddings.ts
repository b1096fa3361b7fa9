import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TimestampOut } from '../../src/domain/common.js';
import {
  EmbeddingBatch,
  EmbeddingModel,
  EmbeddingPath,
  EmbeddingPut,
  EmbeddingRecord,
  ItemType,
  ModelQuery,
  RRF_DEPTH,
  RRF_K,
  SimilarResult,
  SimilarSearch,
} from '../../src/domain/embedding.js';
import {
  GetHeaders,
  idempotencyOf,
  MatchHeaders,
  tenantOf,
  WriteHeaders,
} from '../../src/http/conventions.js';
import { etagOf, ifMatchOf, ifNoneMatchOf } from '../../src/http/etag.js';
import { problems } from '../../src/http/problem-schema.js';
import { sendJsonText, sendWritten } from '../../src/http/replies.js';
import { defineResource, type Resource } from '../../src/http/resources.js';
import type { EmbeddingService } from '../../src/services/embedding-service.js';

const Stored = z.strictObject({
  item_type: ItemType,
  item_id: z.string(),
  model: z.string(),
  dimension: z.int(),
  version: z.int().describe('Also the ETag'),
  created_at: TimestampOut,
  updated_at: TimestampOut,
  created: z.boolean().describe('true: the item had no vector in this model before'),
});

const SIMILARITY =
  'similarity is the cosine similarity a·b / (|a| |b|) of the float32 vectors, in [-1, 1], higher is more similar (libSQL: 1 − vector_distance_cos). ' +
  'Exact under conditions: when the matching vectors are few (at most EMBEDDING_EXACT_SCAN_MAX) they are all scanned; otherwise DiskANN candidates ' +
  '(k × EMBEDDING_INDEX_OVERFETCH) plus the vectors not yet indexed are re-ranked exactly, and when that cannot fill k every matching vector is scanned. ' +
  '`strategy` says which path answered. ' +
  `Hybrid: \`q\` ranks episodes by full text (the FTS of GET /v1/episodes, BM25; \`filter.q\` restricts instead). With \`q\` alone the order is BM25 (score = −bm25). ` +
  `With \`q\` and a vector (or item), the vector list and the text list (each its best ${RRF_DEPTH}) are fused by reciprocal rank: ` +
  `score(d) = Σ over the lists that rank d of 1 / (${RRF_K} + rank(d)), ranks from 1; ties go to the item the vector list ranks first. ` +
  '`ranking` says which order answered.';

/** Embeddings: vectors of items per model, and semantic search (SPEC §3.4). */
const embeddingRoutes: FastifyPluginAsyncZod<{ embeddings: EmbeddingService }> = async (
  app,
  { embeddings },
) => {
  app.put(
    '/embeddings/:item_type/:item_id',
    {
      schema: {
        summary: "Store an item's vector in a model (one per item and model; replaces the one it has)",
        description:
          "A model's dimension (1..4096) is fixed by its first vector; a vector of another length is a 422 naming both. " +
          'A step is named <episode id>:<step number>. The item must exist (404). The vector is searchable at once.',
        params: EmbeddingPath,
        querystring: ModelQuery,
        headers: MatchHeaders,
        body: EmbeddingPut,
        response: {
          201: Stored.describe('Stored: the item had no vector in this model'),
          200: Stored.describe('Replaced'),
          ...problems(404, 409, 412, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { item_type, item_id } = request.params;
      const written = await embeddings.put(
        tenantOf(request),
        { type: item_type, id: item_id },
        request.query.model,
        request.body.vector,
        ifMatchOf(request),
      );
      return sendWritten(reply, written.value.created ? 201 : 200, written, {
        etag: etagOf(written.value.version),
      });
    },
  );

  app.get(
    '/embeddings/:item_type/:item_id',
    {
      schema: {
        summary: "An item's vector in a model",
        params: EmbeddingPath,
        querystring: ModelQuery,
        headers: GetHeaders,
        response: { 200: EmbeddingRecord, 304: z.undefined().describe('Not modified'), ...problems(404) },
      },
    },
    async (request, reply) => {
      const known = ifNoneMatchOf(request);
      const { item_type, item_id } = request.params;
      const stored = await embeddings.get(
        tenantOf(request),
        { type: item_type, id: item_id },
        request.query.model,
      );
      reply.header('etag', etagOf(stored.version));
      if (known(stored.version)) return reply.code(304).send();
      return stored;
    },
  );

  app.delete(
    '/embeddings/:item_type/:item_id',
    {
      schema: {
        summary: "Delete an item's vector in a model",
        params: EmbeddingPath,
        querystring: ModelQuery,
        headers: MatchHeaders,
        response: { 204: z.undefined().describe('Deleted'), ...problems(404, 409, 412) },
      },
    },
    async (request, reply) => {
      const { item_type, item_id } = request.params;
      await embeddings.delete(
        tenantOf(request),
        { type: item_type, id: item_id },
        request.query.model,
        ifMatchOf(request),
      );
      return reply.code(204).send();
    },
  );

  app.post(
    '/embeddings/batch',
    {
      schema: {
        summary: 'Store up to 1,000 vectors atomically: all or none',
        headers: WriteHeaders,
        body: EmbeddingBatch,
        response: {
          200: z
            .strictObject({ items: z.array(Stored) })
            .describe('Stored (each item says whether it was new)'),
          ...problems(404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) =>
      sendWritten(
        reply,
        200,
        await embeddings.batch(tenantOf(request), request.body.items, idempotencyOf(request)),
      ),
  );

  app.get(
    '/embedding-models',
    {
      schema: {
        summary: "The tenant's embedding models: dimension, metric, vector count and index parameters",
        response: { 200: z.strictObject({ items: z.array(EmbeddingModel) }), ...problems() },
      },
    },
    async (request) => ({ items: await embeddings.models(tenantOf(request)) }),
  );

  app.post(
    '/search/similar',
    {
      config: { role: 'read' },
      schema: {
        summary:
          'The k items most similar to a vector or an item, or matching text best (hybrid), under episode filters',
        description: SIMILARITY,
        body: SimilarSearch,
        response: { 200: SimilarResult, ...problems(404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const found = await embeddings.similar(tenantOf(request), request.body);
      request.server.engram.metrics.similarSearches.inc({ strategy: found.strategy });
      const items = found.hits.map(
        (h) =>
          `{"item_type":${JSON.stringify(h.item_type)},"item_id":${JSON.stringify(h.item_id)},"similarity":${h.similarity},"score":${h.score},"item":${h.item ?? 'null'}}`,
      );
      return sendJsonText(
        reply,
        `{"items":[${items.join(',')}],"ranking":"${found.ranking}","strategy":"${found.strategy}"}`,
      );
    },
  );
};

export const embeddingResource = (embeddings: EmbeddingService): Resource =>
  defineResource(
    'embeddings',
    'Vectors of items per model, and semantic search (SPEC §3.4)',
    embeddingRoutes,
    {
      embeddings,
    },
  );
