import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Uuid } from '../../src/domain/common.js';
import {
  EpisodeBatchCreate,
  EpisodeComplete,
  EpisodeCreate,
  EpisodeListQuery,
  EpisodePatch,
  EpisodeRecord,
} from '../../src/domain/episode.js';
import { ReadHeaders } from '../../src/http/consistency-token.js';
import {
  GetHeaders,
  idempotencyOf,
  MatchHeaders,
  pageJsonText,
  sendJsonText,
  sendOutcome,
  tenantOf,
  versionOf,
  WriteHeaders,
} from '../../src/http/conventions.js';
import { problems } from '../../src/http/problem-schema.js';
import { type EpisodeService, etagOf } from '../../src/services/episode-service.js';

const IdParams = z.object({ id: Uuid });
const EpisodePage = z.object({ items: z.array(EpisodeRecord), next_cursor: z.string().nullable() });
const DeletionReport = z.object({
  episodes: z.int(),
  steps: z.int(),
  tags: z.int(),
  embeddings: z.int(),
  spatiotemporal_entries: z.int(),
});

/** Episodes: one attempt by an agent at one task (SPEC §3.1). */
export const episodeRoutes: FastifyPluginAsyncZod<{ episodes: EpisodeService }> = async (
  app,
  { episodes },
) => {
  app.post(
    '/episodes',
    {
      schema: {
        tags: ['episodes'],
        summary: 'Create an episode, with its steps, tags, location and embedding, in one transaction',
        headers: WriteHeaders,
        body: EpisodeCreate,
        response: {
          201: EpisodeRecord.describe('Created'),
          200: EpisodeRecord.describe('The same id with an identical body: the stored record'),
          ...problems(409, 413, 415, 422),
        },
      },
    },
    async (request, reply) =>
      sendOutcome(reply, await episodes.create(tenantOf(request), request.body, idempotencyOf(request))),
  );

  app.post(
    '/episodes/batch',
    {
      schema: {
        tags: ['episodes'],
        summary: 'Create up to 500 episodes atomically: all or none',
        headers: WriteHeaders,
        body: EpisodeBatchCreate,
        response: { 201: z.object({ ids: z.array(Uuid) }), ...problems(409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      sendOutcome(
        reply,
        await episodes.createBatch(tenantOf(request), request.body.episodes, idempotencyOf(request)),
      ),
  );

  app.get(
    '/episodes/:id',
    {
      schema: {
        tags: ['episodes'],
        summary: 'Get an episode',
        params: IdParams,
        headers: GetHeaders,
        querystring: z.strictObject({ include: z.enum(['steps']).optional() }),
        response: { 200: EpisodeRecord, 304: z.undefined().describe('Not modified'), ...problems(404) },
      },
    },
    async (request, reply) => {
      const known = versionOf(request, 'if-none-match');
      const episode = await episodes.get(
        tenantOf(request),
        request.params.id,
        request.query.include === 'steps',
      );
      reply.header('etag', etagOf(episode.version));
      if (known === episode.version) return reply.code(304).send();
      return sendJsonText(reply, episode.json);
    },
  );

  app.get(
    '/episodes',
    {
      schema: {
        tags: ['episodes'],
        summary: 'List episodes, filtered (AND) and paginated by keyset cursor',
        querystring: EpisodeListQuery,
        headers: ReadHeaders,
        response: { 200: EpisodePage, ...problems() },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, pageJsonText(await episodes.list(tenantOf(request), request.query))),
  );

  app.patch(
    '/episodes/:id',
    {
      schema: {
        tags: ['episodes'],
        summary: 'Change an episode with a JSON merge patch',
        params: IdParams,
        headers: MatchHeaders,
        body: EpisodePatch,
        response: { 200: EpisodeRecord, ...problems(404, 409, 412, 413, 415) },
      },
    },
    async (request, reply) =>
      sendOutcome(
        reply,
        await episodes.patch(
          tenantOf(request),
          request.params.id,
          request.body,
          versionOf(request, 'if-match'),
        ),
      ),
  );

  app.post(
    '/episodes/:id/complete',
    {
      schema: {
        tags: ['episodes'],
        summary: 'Complete an episode: outcome, reward, reflection; 409 if already completed',
        params: IdParams,
        headers: WriteHeaders,
        body: EpisodeComplete,
        response: { 200: EpisodeRecord, ...problems(404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      sendOutcome(
        reply,
        await episodes.complete(tenantOf(request), request.params.id, request.body, idempotencyOf(request)),
      ),
  );

  app.delete(
    '/episodes/:id',
    {
      schema: {
        tags: ['episodes'],
        summary: 'Delete an episode with its steps, tags, embeddings and spatiotemporal entries',
        params: IdParams,
        headers: MatchHeaders,
        querystring: z.strictObject({
          report: z
            .enum(['true', 'false'])
            .default('false')
            .describe('true: answer 200 with deletion counts'),
        }),
        response: { 204: z.undefined().describe('Deleted'), 200: DeletionReport, ...problems(404, 412) },
      },
    },
    async (request, reply) => {
      const report = await episodes.delete(
        tenantOf(request),
        request.params.id,
        versionOf(request, 'if-match'),
      );
      return request.query.report === 'true' ? report : reply.code(204).send();
    },
  );
};
