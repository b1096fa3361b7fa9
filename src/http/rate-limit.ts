import createError from '@fastify/error';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { ANONYMOUS } from './auth.js';

// SPEC §6: a rate limit per API key on /v1 (`RATE_LIMIT_PER_MINUTE`, off by default). It runs after
// authentication, so it counts by the key's identity; without keys, by client address.

const RateLimited = createError<[string]>(
  'RATE_LIMITED',
  'Too many requests for this API key; retry in %s',
  429,
);

export async function registerRateLimit(app: FastifyInstance, perMinute: number): Promise<void> {
  await app.register(rateLimit, {
    max: perMinute,
    timeWindow: 60_000,
    // Operations endpoints (health probes, metrics, docs) carry no identity and are never limited.
    allowList: (request) => request.identity === null,
    keyGenerator: (request) =>
      request.identity && request.identity !== ANONYMOUS
        ? `key:${request.identity.keyId}`
        : `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => new RateLimited(context.after),
  });
}
