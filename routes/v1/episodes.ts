import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Uuid } from '../../src/domain/common.js';
import {
  EpisodeBatchCreate,
  EpisodeComplete,
  EpisodeCreate,
  EpisodePatch,
  EpisodeRecord,
} from '../../src/domain/episode.js';
import { EpisodeListQuery } from '../../src/domain/episode-list.js';
import { ReadHeaders } from '../../src/http/consistency-token.js';
import {
  GetHeaders,
  idempotencyOf,
  MatchHeaders,
  tenantOf,
  WriteHeaders,
} from '../../src/http/conventions.js';
import { ifMatchOf, ifNoneMatchOf } from '../../src/http/etag.js';
import { problems } from '../../src/http/problem-schema.js';
import {
  pageJsonText,
  sendChanged,
  sendCreated,
  sendJsonText,
  sendRecord,
  sendWritten,
} from '../../src/http/replies.js';
import { defineResource, type Resource } from '../../src/http/resources.js';
import { IdParams, pageSchema, queryFlag } from '../../src/http/schemas.js';
import type { EpisodeService } from '../../src/services/episode-service.js';

const DeletionReport = z.strictObject({
  episodes: z.int(),
  steps: z.int(),
  tags: z.int(),
  embeddings: z.int(),
  spatiotemporal_entries: z.int(),
});

/** Episodes: one attempt by an agent at one task (SPEC §3.1). */
const episodeRoutes: FastifyPluginAsyncZod<{ episodes: EpisodeService }> = async (app, { episodes }) => {
  app.post(
    '/episodes',
    {
      schema: {
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
    async (request, reply) => {
      const created = await episodes.create(tenantOf(request), request.body, idempotencyOf(request));
      return sendCreated(reply, created, '/v1/episodes');
    },
  );

  app.post(
    '/episodes/batch',
    {
      schema: {
        summary: 'Create up to 500 episodes atomically: all or none',
        headers: WriteHeaders,
        body: EpisodeBatchCreate,
        response: { 201: z.strictObject({ ids: z.array(Uuid) }), ...problems(409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      sendWritten(
        reply,
        201,
        await episodes.createBatch(tenantOf(request), request.body.episodes, idempotencyOf(request)),
      ),
  );

  app.get(
    '/episodes/:id',
    {
      schema: {
        summary: 'Get an episode',
        params: IdParams,
        headers: GetHeaders,
        querystring: z.strictObject({ include: z.enum(['steps']).optional() }),
        response: { 200: EpisodeRecord, 304: z.undefined().describe('Not modified'), ...problems(404, 422) },
      },
    },
    async (request, reply) => {
      const known = ifNoneMatchOf(request);
      const episode = await episodes.get(
        tenantOf(request),
        request.params.id,
        request.query.include === 'steps',
      );
      return sendRecord(reply, known, episode);
    },
  );

  app.get(
    '/episodes',
    {
      schema: {
        summary: 'List episodes, filtered (AND) and paginated by keyset cursor',
        querystring: EpisodeListQuery,
        headers: ReadHeaders,
        response: { 200: pageSchema(EpisodeRecord), ...problems(422) },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, pageJsonText(await episodes.list(tenantOf(request), request.query))),
  );

  app.patch(
    '/episodes/:id',
    {
      schema: {
        summary: 'Change an episode with a JSON merge patch',
        params: IdParams,
        headers: MatchHeaders,
        body: EpisodePatch,
        response: { 200: EpisodeRecord, ...problems(404, 409, 412, 413, 415) },
      },
    },
    async (request, reply) => {
      const patched = await episodes.patch(
        tenantOf(request),
        request.params.id,
        request.body,
        ifMatchOf(request),
      );
      return sendChanged(reply, patched);
    },
  );

  app.post(
    '/episodes/:id/complete',
    {
      schema: {
        summary: 'Complete an episode: outcome, reward, reflection; 409 if already completed',
        params: IdParams,
        headers: WriteHeaders,
        body: EpisodeComplete,
        response: { 200: EpisodeRecord, ...problems(404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const completed = await episodes.complete(
        tenantOf(request),
        request.params.id,
        request.body,
        idempotencyOf(request),
      );
      return sendChanged(reply, completed);
    },
  );

  app.delete(
    '/episodes/:id',
    {
      schema: {
        summary: 'Delete an episode with its steps, tags, embeddings and spatiotemporal entries',
        params: IdParams,
        headers: MatchHeaders,
        querystring: z.strictObject({ report: queryFlag('true: answer 200 with deletion counts') }),
        response: { 204: z.undefined().describe('Deleted'), 200: DeletionReport, ...problems(404, 409, 412) },
      },
    },
    async (request, reply) => {
      const deleted = await episodes.delete(tenantOf(request), request.params.id, ifMatchOf(request));
      if (request.query.report) return sendWritten(reply, 200, deleted);
      return reply.code(204).send();
    },
  );
};

export const episodeResource = (episodes: EpisodeService): Resource =>
  defineResource('episodes', 'One attempt by an agent at one task (SPEC §3.1)', episodeRoutes, { episodes });
