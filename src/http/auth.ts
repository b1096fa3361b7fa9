import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { type Identity, type KeyRing, type Role, roleAllows, sha256 } from './api-keys.js';
import { sendProblem } from './problem.js';

// Who the caller is (SPEC §6): `Authorization: Bearer <key>` on every /v1 request when keys are configured;
// the key's tenant scopes every query (tenantOf) and its role must reach the route's.

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on every /v1 request before its handler runs; null elsewhere. */
    identity: Identity | null;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; by default `read` for GET/HEAD and `write` for anything else. */
    role?: Role;
  }
}

/** Without keys every caller is this (SPEC §6: one tenant, and nothing to restrict). */
export const ANONYMOUS: Identity = { tenant: 'default', role: 'admin', keyId: 'anonymous' };

export const requiredRole = (method: string, declared: Role | undefined): Role =>
  declared ?? (method === 'GET' || method === 'HEAD' ? 'read' : 'write');

const API_PATH = /^\/v1(?:[/?]|$)/;

/** Whether a request is an API call: by its path and by the route it matched (either one is enough). */
const isApiRequest = (request: FastifyRequest): boolean =>
  API_PATH.test(request.url) || API_PATH.test(request.routeOptions.url ?? '');

/** The bearer token of the Authorization header, if it has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

/** 401 with the RFC 6750 challenge: `invalid_token` when a token was sent and is not known. */
export function sendUnauthorized(
  request: FastifyRequest,
  reply: FastifyReply,
  tokenSent: boolean,
): FastifyReply {
  reply.header('www-authenticate', `Bearer realm="engram"${tokenSent ? ', error="invalid_token"' : ''}`);
  return tokenSent
    ? sendProblem(request, reply, 401, 'INVALID_API_KEY', 'The bearer token is not a valid API key')
    : sendProblem(
        request,
        reply,
        401,
        'AUTHENTICATION_REQUIRED',
        'Send an API key: Authorization: Bearer <key>',
      );
}

/** Authenticates every /v1 request (anonymous when no keys are configured) and enforces the route's role. */
export function registerAuth(app: FastifyInstance, keyring: KeyRing): void {
  app.decorateRequest('identity', null);
  app.addHook('onRequest', async (request, reply) => {
    if (!isApiRequest(request)) return;
    let identity = ANONYMOUS;
    if (keyring.size > 0) {
      const token = bearerToken(request);
      const known = token === undefined ? null : keyring.identify(token);
      if (!known) return sendUnauthorized(request, reply, token !== undefined);
      identity = known;
    }
    request.identity = identity;
    const needed = requiredRole(request.method, request.routeOptions.config?.role);
    if (!roleAllows(identity.role, needed)) {
      return sendProblem(
        request,
        reply,
        403,
        'INSUFFICIENT_ROLE',
        `This operation needs the ${needed} role; the API key has ${identity.role}`,
      );
    }
  });
}

/** A hook that requires `Authorization: Bearer <token>` (compared in constant time); for /metrics. */
export function requireToken(token: string): onRequestAsyncHookHandler {
  const expected = sha256(token);
  return async (request, reply) => {
    const presented = bearerToken(request);
    if (presented === undefined || !timingSafeEqual(sha256(presented), expected)) {
      return sendUnauthorized(request, reply, presented !== undefined);
    }
  };
}

/** The bearer scheme of the API document; `documentSecurity` puts it on every /v1 operation. */
export const BEARER_SCHEME = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key from ENGRAM_API_KEYS or ENGRAM_API_KEYS_FILE; it decides the tenant and the role (read < write < admin). Not needed when the service runs without keys.',
  },
} as const;

/** Wraps the schema transform: /v1 operations declare the bearer scheme and the role they need (`x-required-role`). */
export function documentSecurity(transform: typeof jsonSchemaTransform): typeof jsonSchemaTransform {
  return (args) => {
    const out = transform(args);
    if (!API_PATH.test(args.url)) return out;
    const method = [args.route.method].flat()[0] ?? 'GET';
    const role = requiredRole(method, (args.route.config as { role?: Role } | undefined)?.role);
    return { ...out, schema: { ...out.schema, security: [{ bearerAuth: [] }], 'x-required-role': role } };
  };
}
