import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Uuid } from '../../src/domain/common.js';
import {
  appendedSteps,
  GlobalStepListQuery,
  StepAppend,
  StepListQuery,
  StepNumber,
  StepRecord,
} from '../../src/domain/step.js';
import { ReadHeaders } from '../../src/http/consistency-token.js';
import { idempotencyOf, sendOutcome, tenantOf, WriteHeaders } from '../../src/http/conventions.js';
import { problems } from '../../src/http/problem-schema.js';
import type { EpisodeService } from '../../src/services/episode-service.js';

const StepPage = z.object({ items: z.array(StepRecord), next_cursor: z.string().nullable() });

/** Steps: one action inside an episode (SPEC §3.2). */
export const stepRoutes: FastifyPluginAsyncZod<{ episodes: EpisodeService }> = async (app, { episodes }) => {
  app.post(
    '/episodes/:id/steps',
    {
      schema: {
        tags: ['steps'],
        summary: 'Append one step, or {"steps": [...]} atomically; numbers default to the next free ones',
        params: z.object({ id: Uuid }),
        querystring: z.strictObject({
          strict: z
            .enum(['true', 'false'])
            .default('false')
            .describe('true: 409 when the episode is completed'),
        }),
        headers: WriteHeaders,
        body: StepAppend,
        response: {
          201: z.union([StepRecord, z.object({ items: z.array(StepRecord) })]).describe('The stored step(s)'),
          ...problems(404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) =>
      sendOutcome(
        reply,
        await episodes.appendSteps(
          tenantOf(request),
          request.params.id,
          { steps: appendedSteps(request.body), single: !('steps' in request.body) },
          request.query.strict === 'true',
          idempotencyOf(request),
        ),
      ),
  );

  app.get(
    '/episodes/:id/steps',
    {
      schema: {
        tags: ['steps'],
        summary: "List an episode's steps by step_number",
        params: z.object({ id: Uuid }),
        querystring: StepListQuery,
        headers: ReadHeaders,
        response: { 200: StepPage, ...problems(404) },
      },
    },
    async (request) =>
      episodes.listSteps(tenantOf(request), request.params.id, request.query.limit, request.query.cursor),
  );

  app.get(
    '/episodes/:id/steps/:n',
    {
      schema: {
        tags: ['steps'],
        summary: 'Get one step',
        params: z.object({ id: Uuid, n: z.coerce.number().pipe(StepNumber) }),
        headers: ReadHeaders,
        response: { 200: StepRecord, ...problems(404) },
      },
    },
    async (request) => episodes.getStep(tenantOf(request), request.params.id, request.params.n),
  );

  app.get(
    '/steps',
    {
      schema: {
        tags: ['steps'],
        summary: 'Steps across episodes, newest first: tool-usage analysis',
        querystring: GlobalStepListQuery,
        headers: ReadHeaders,
        response: { 200: StepPage, ...problems() },
      },
    },
    async (request) => episodes.listAllSteps(tenantOf(request), request.query),
  );
};
