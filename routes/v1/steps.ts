import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Uuid } from '../../src/domain/common.js';
import {
  appendedSteps,
  GlobalStepListQuery,
  StepAppend,
  StepListQuery,
  StepNumberParam,
  StepRecord,
} from '../../src/domain/step.js';
import { ReadHeaders } from '../../src/http/consistency-token.js';
import { idempotencyOf, tenantOf, WriteHeaders } from '../../src/http/conventions.js';
import { problems } from '../../src/http/problem-schema.js';
import { pageJsonText, sendJsonText, sendWritten } from '../../src/http/replies.js';
import { defineResource, type Resource } from '../../src/http/resources.js';
import { IdParams, pageSchema, queryFlag } from '../../src/http/schemas.js';
import type { StepService } from '../../src/services/step-service.js';

/** Steps: one action inside an episode (SPEC §3.2). */
const stepRoutes: FastifyPluginAsyncZod<{ steps: StepService }> = async (app, { steps }) => {
  app.post(
    '/episodes/:id/steps',
    {
      schema: {
        summary: 'Append one step, or {"steps": [...]} atomically; numbers default to the next free ones',
        params: IdParams,
        querystring: z.strictObject({ strict: queryFlag('true: 409 when the episode is completed') }),
        headers: WriteHeaders,
        body: StepAppend,
        response: {
          201: z
            .union([StepRecord, z.strictObject({ items: z.array(StepRecord) })])
            .describe('The stored step(s)'),
          ...problems(404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const appended = await steps.append(
        tenantOf(request),
        id,
        { steps: appendedSteps(request.body), single: !('steps' in request.body) },
        request.query.strict,
        idempotencyOf(request),
      );
      const first = 'items' in appended.value ? appended.value.items[0] : appended.value;
      return sendWritten(reply, 201, appended, {
        location: `/v1/episodes/${id}/steps/${first?.step_number}`,
      });
    },
  );

  app.get(
    '/episodes/:id/steps',
    {
      schema: {
        summary: "List an episode's steps by step_number",
        params: IdParams,
        querystring: StepListQuery,
        headers: ReadHeaders,
        response: { 200: pageSchema(StepRecord), ...problems(404) },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query;
      return sendJsonText(
        reply,
        pageJsonText(await steps.listForEpisode(tenantOf(request), request.params.id, limit, cursor)),
      );
    },
  );

  app.get(
    '/episodes/:id/steps/:n',
    {
      schema: {
        summary: 'Get one step',
        params: z.strictObject({ id: Uuid, n: StepNumberParam }),
        headers: ReadHeaders,
        response: { 200: StepRecord, ...problems(404) },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, (await steps.get(tenantOf(request), request.params.id, request.params.n)).json),
  );

  app.get(
    '/steps',
    {
      schema: {
        summary: 'Steps across episodes, newest first: tool-usage analysis',
        querystring: GlobalStepListQuery,
        headers: ReadHeaders,
        response: { 200: pageSchema(StepRecord), ...problems() },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, pageJsonText(await steps.list(tenantOf(request), request.query))),
  );
};

export const stepResource = (steps: StepService): Resource =>
  defineResource('steps', 'One action inside an episode (SPEC §3.2)', stepRoutes, { steps });
