import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { HealthService } from '../src/services/health-service.js';

/** Operations endpoints; unversioned and hidden from the API document (SPEC §4). */
export const healthRoutes: FastifyPluginAsyncZod<{ health: HealthService }> = async (app, { health }) => {
  app.get('/health', { schema: { hide: true } }, async (_request, reply) => {
    const report = await health.report();
    return reply.code(report.status === 'unavailable' ? 503 : 200).send(report);
  });

  app.get('/health/live', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { schema: { hide: true } }, async (_request, reply) => {
    const { ready, reason } = await health.readiness();
    if (!ready) reply.header('retry-after', '1');
    return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not_ready', reason });
  });
};
