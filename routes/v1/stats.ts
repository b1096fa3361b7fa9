import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { StatsQuery, StatsRecord } from '../../src/domain/stats.js';
import { tenantOf } from '../../src/http/conventions.js';
import { problems } from '../../src/http/problem-schema.js';
import { defineResource, type Resource } from '../../src/http/resources.js';
import type { StatsService } from '../../src/services/stats-service.js';

/** Analytics (SPEC §3.6). */
const statsRoutes: FastifyPluginAsyncZod<{ stats: StatsService }> = async (app, { stats }) => {
  app.get(
    '/stats',
    {
      schema: {
        summary: "The tenant's counts, outcomes by task type and domain, most used tools, patterns by kind",
        description:
          'Computed in SQL. Episode and tool figures come from running totals that triggers keep in the same transaction as every episode and step write, so they are exact and cost the same at any size. success is outcome.type = success (partial_success is not); archived episodes count.',
        querystring: StatsQuery,
        response: { 200: StatsRecord, ...problems() },
      },
    },
    async (request) => stats.get(tenantOf(request), request.query),
  );
};

export const statsResource = (stats: StatsService): Resource =>
  defineResource('stats', 'Analytics over the tenant’s records (SPEC §3.6)', statsRoutes, { stats });
