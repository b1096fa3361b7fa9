import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

// Response headers for a JSON API (helmet's defaults: nosniff, no framing, no referrer, HSTS behind TLS, ...)
// with a content security policy that lets nothing load: API responses are data, never pages. Swagger UI
// at /docs sets its own policy for its pages (see app.ts).
export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
  });
}
