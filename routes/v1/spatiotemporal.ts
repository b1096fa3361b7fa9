import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  DomainCounts,
  DomainsQuery,
  SpatiotemporalHit,
  SpatiotemporalSearch,
  Timeline,
  TimelineQuery,
} from '../../src/domain/spatiotemporal.js';
import { tenantOf } from '../../src/http/conventions.js';
import { problems } from '../../src/http/problem-schema.js';
import { pageJsonText, sendJsonText } from '../../src/http/replies.js';
import { defineResource, type Resource } from '../../src/http/resources.js';
import { pageSchema } from '../../src/http/schemas.js';
import type { SpatiotemporalService } from '../../src/services/spatiotemporal-service.js';

/** Where and when (SPEC §3.5): search by place and time, timelines, domains over time. */
const spatiotemporalRoutes: FastifyPluginAsyncZod<{ spatiotemporal: SpatiotemporalService }> = async (
  app,
  { spatiotemporal },
) => {
  app.post(
    '/spatiotemporal/search',
    {
      config: { role: 'read' },
      schema: {
        summary:
          'Episodes (or located steps) near a point or within a box, overlapping a time window, with any episode filter',
        body: SpatiotemporalSearch,
        response: { 200: pageSchema(SpatiotemporalHit), ...problems(413, 415) },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, pageJsonText(await spatiotemporal.search(tenantOf(request), request.body))),
  );

  app.get(
    '/spatiotemporal/timeline',
    {
      schema: {
        summary:
          'Episodes per hour, day, week or month (UTC, or the wall clock of tz): counts, success rate, mean reward, top tools',
        querystring: TimelineQuery,
        response: { 200: Timeline, ...problems() },
      },
    },
    async (request) => spatiotemporal.timeline(tenantOf(request), request.query),
  );

  app.get(
    '/spatiotemporal/domains',
    {
      schema: {
        summary: 'Episodes per domain and task type that started in a window, the busiest first',
        querystring: DomainsQuery,
        response: { 200: DomainCounts, ...problems() },
      },
    },
    async (request) => spatiotemporal.domains(tenantOf(request), request.query),
  );
};

export const spatiotemporalResource = (spatiotemporal: SpatiotemporalService): Resource =>
  defineResource(
    'spatiotemporal',
    'Where and when: place and time queries (SPEC §3.5)',
    spatiotemporalRoutes,
    {
      spatiotemporal,
    },
  );
