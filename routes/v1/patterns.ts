import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ApplicationCreate,
  HeuristicCreate,
  HeuristicListQuery,
  HeuristicRecord,
  MergePatch,
  PatternCreate,
  PatternListQuery,
  PatternRecord,
} from '../../src/domain/pattern.js';
import { SuggestionList, SuggestionQuery } from '../../src/domain/suggestions.js';
import {
  GetHeaders,
  idempotencyOf,
  MatchHeaders,
  tenantOf,
  WriteHeaders,
} from '../../src/http/conventions.js';
import { ifMatchOf, ifNoneMatchOf } from '../../src/http/etag.js';
import { problems } from '../../src/http/problem-schema.js';
import { pageJsonText, sendChanged, sendCreated, sendJsonText, sendRecord } from '../../src/http/replies.js';
import { defineResource, type Resource } from '../../src/http/resources.js';
import { IdParams, pageSchema } from '../../src/http/schemas.js';
import type { HeuristicService } from '../../src/services/heuristic-service.js';
import type { PatternService } from '../../src/services/pattern-service.js';
import type { RetrievalCounter } from '../../src/services/retrieval-counter.js';

const LIST_DESCRIPTION = (flushSeconds: number) =>
  `Every pattern on a page counts as retrieved: effectiveness.times_retrieved grows by one. The counts are kept in memory and written in one batch every ${flushSeconds} s (and at shutdown), never a write per read: a crash may lose up to ${flushSeconds} s of retrieval counts. The effectiveness sort orders by effectiveness.score = (success_when_applied + 1) / (times_applied + 2) × times_applied / (times_applied + 10): a Laplace-smoothed helped-rate, weighted by use (0 until applied, approaching the helped-rate as applications grow); it is a stored, indexed column updated in the same statement as the counters.`;

interface LearnedOptions extends Record<string, unknown> {
  patterns: PatternService;
  heuristics: HeuristicService;
  retrievals: RetrievalCounter;
}

/** Patterns: what was learned, in four kinds (SPEC §3.3). */
const patternRoutes: FastifyPluginAsyncZod<LearnedOptions> = async (app, { patterns, retrievals }) => {
  app.post(
    '/patterns',
    {
      schema: {
        summary: 'Create a pattern of one of the four kinds',
        headers: WriteHeaders,
        body: PatternCreate,
        response: {
          201: PatternRecord.describe('Created'),
          200: PatternRecord.describe('The same id with an identical body: the stored record'),
          ...problems(409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const created = await patterns.create(tenantOf(request), request.body, idempotencyOf(request));
      return sendCreated(reply, created, '/v1/patterns');
    },
  );

  app.get(
    '/patterns',
    {
      schema: {
        summary: 'List patterns, filtered (AND) and sorted, paginated by keyset cursor',
        description: LIST_DESCRIPTION(retrievals.intervalMs / 1000),
        querystring: PatternListQuery,
        response: { 200: pageSchema(PatternRecord), ...problems(422) },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, pageJsonText(await patterns.list(tenantOf(request), request.query))),
  );

  app.get(
    '/patterns/suggestions',
    {
      schema: {
        summary: 'Candidate patterns mined in SQL from the steps of completed episodes',
        description:
          'tool_sequence: runs of 2..4 consecutive tools (by step_number) with their support (distinct episodes), success rate (share of those episodes whose outcome is success), occurrence count and mean latency (the sum of the run’s latency_ms; a step without one counts 0; latencies whose sum passes float64’s range give the largest finite number, 1.7976931348623157e308). error_recovery: error_type is the tool whose step had an error result, recovery_steps the 1..3 tools after it, kept when at least one such episode succeeded. Grouped by domain (the pattern’s context). Each item’s `pattern` can be POSTed to /v1/patterns unchanged. Read from running totals that triggers keep in the same transaction as every episode and step write (each completed episode’s candidates, re-mined when steps are appended to it or its domain, completion or outcome changes), so answers are exact and cost the same at any size; with `since`, summed from the candidates of the completed episodes started in the window, so the cost grows with the window.',
        querystring: SuggestionQuery,
        response: { 200: SuggestionList, ...problems() },
      },
    },
    async (request) => ({ items: await patterns.suggest(tenantOf(request), request.query) }),
  );

  app.get(
    '/patterns/:id',
    {
      schema: {
        summary: 'Get a pattern',
        description:
          'The ETag is the version: it moves with every change and application, but not with times_retrieved (counted in batches).',
        params: IdParams,
        headers: GetHeaders,
        response: { 200: PatternRecord, 304: z.undefined().describe('Not modified'), ...problems(404) },
      },
    },
    async (request, reply) => {
      const known = ifNoneMatchOf(request);
      const pattern = await patterns.get(tenantOf(request), request.params.id);
      return sendRecord(reply, known, pattern);
    },
  );

  app.patch(
    '/patterns/:id',
    {
      schema: {
        summary: "Change a pattern's own fields with a JSON merge patch",
        params: IdParams,
        headers: MatchHeaders,
        body: MergePatch,
        response: { 200: PatternRecord, ...problems(404, 409, 412, 413, 415) },
      },
    },
    async (request, reply) => {
      const patched = await patterns.patch(
        tenantOf(request),
        request.params.id,
        request.body,
        ifMatchOf(request),
      );
      return sendChanged(reply, patched);
    },
  );

  app.delete(
    '/patterns/:id',
    {
      schema: {
        summary: 'Delete a pattern with its tags, applications and embeddings',
        params: IdParams,
        headers: MatchHeaders,
        response: { 204: z.undefined().describe('Deleted'), ...problems(404, 409, 412) },
      },
    },
    async (request, reply) => {
      await patterns.delete(tenantOf(request), request.params.id, ifMatchOf(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/patterns/:id/applications',
    {
      schema: {
        summary: 'Record an application of the pattern: its effectiveness counters move atomically',
        description:
          'times_applied, success_when_applied (helped), failure_when_applied (hindered), avg_reward_delta (running mean over the applications that give a reward_delta), last_used, effectiveness.score and the version change in one SQL statement: concurrent applications never lose a count. Answers the pattern as the application left it.',
        params: IdParams,
        headers: WriteHeaders,
        body: ApplicationCreate,
        response: { 200: PatternRecord, ...problems(404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const applied = await patterns.apply(
        tenantOf(request),
        request.params.id,
        request.body,
        idempotencyOf(request),
      );
      return sendChanged(reply, applied);
    },
  );
};

/** Heuristics: condition → action rules with a confidence (SPEC §3.3). */
const heuristicRoutes: FastifyPluginAsyncZod<LearnedOptions> = async (app, { heuristics }) => {
  app.post(
    '/heuristics',
    {
      schema: {
        summary: 'Create a heuristic',
        headers: WriteHeaders,
        body: HeuristicCreate,
        response: {
          201: HeuristicRecord.describe('Created'),
          200: HeuristicRecord.describe('The same id with an identical body: the stored record'),
          ...problems(409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const created = await heuristics.create(tenantOf(request), request.body, idempotencyOf(request));
      return sendCreated(reply, created, '/v1/heuristics');
    },
  );

  app.get(
    '/heuristics',
    {
      schema: {
        summary: 'List heuristics, highest confidence first, paginated by keyset cursor',
        querystring: HeuristicListQuery,
        response: { 200: pageSchema(HeuristicRecord), ...problems(422) },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, pageJsonText(await heuristics.list(tenantOf(request), request.query))),
  );

  app.get(
    '/heuristics/:id',
    {
      schema: {
        summary: 'Get a heuristic',
        params: IdParams,
        headers: GetHeaders,
        response: { 200: HeuristicRecord, 304: z.undefined().describe('Not modified'), ...problems(404) },
      },
    },
    async (request, reply) => {
      const known = ifNoneMatchOf(request);
      const heuristic = await heuristics.get(tenantOf(request), request.params.id);
      return sendRecord(reply, known, heuristic);
    },
  );

  app.patch(
    '/heuristics/:id',
    {
      schema: {
        summary: 'Change a heuristic with a JSON merge patch',
        params: IdParams,
        headers: MatchHeaders,
        body: MergePatch,
        response: { 200: HeuristicRecord, ...problems(404, 409, 412, 413, 415) },
      },
    },
    async (request, reply) => {
      const patched = await heuristics.patch(
        tenantOf(request),
        request.params.id,
        request.body,
        ifMatchOf(request),
      );
      return sendChanged(reply, patched);
    },
  );

  app.delete(
    '/heuristics/:id',
    {
      schema: {
        summary: 'Delete a heuristic with its embeddings',
        params: IdParams,
        headers: MatchHeaders,
        response: { 204: z.undefined().describe('Deleted'), ...problems(404, 409, 412) },
      },
    },
    async (request, reply) => {
      await heuristics.delete(tenantOf(request), request.params.id, ifMatchOf(request));
      return reply.code(204).send();
    },
  );
};

export const patternResource = (options: LearnedOptions): Resource =>
  defineResource(
    'patterns',
    'What was learned: patterns of four kinds, with effectiveness counters (SPEC §3.3)',
    patternRoutes,
    options,
  );

export const heuristicResource = (options: LearnedOptions): Resource =>
  defineResource(
    'heuristics',
    'Condition → action rules with a confidence (SPEC §3.3)',
    heuristicRoutes,
    options,
  );
