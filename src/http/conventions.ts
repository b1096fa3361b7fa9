import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidRequest } from '../domain/errors.js';
import type { IdempotencyRequest, WriteOutcome } from '../services/episode-service.js';
import { ReadHeaders } from './consistency-token.js';

// The wire conventions of SPEC §2 that every resource shares: tenancy, Idempotency-Key, ETags.

/**
 * The tenant the request acts for (its API key's, see http/auth.ts): the one scope every repository call
 * gets. Fails closed: a route outside /v1 has no identity, and asking for one there is a bug.
 */
export function tenantOf(request: FastifyRequest): string {
  if (!request.identity) throw new Error(`no identity on ${request.method} ${request.url}: not an API route`);
  return request.identity.tenant;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

export const WriteHeaders = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      'Makes the POST safe to retry: a replay within 24 h returns the first response (1..255 visible ASCII)',
    ),
});
export const MatchHeaders = z.object({
  'if-match': z.string().optional().describe('ETag the change is based on; 412 when the record moved on'),
});
export const GetHeaders = ReadHeaders.extend({
  'if-none-match': z.string().optional().describe('ETag the caller has; 304 when it is still current'),
});

/** The request's Idempotency-Key with a fingerprint of what it asks (method, path, body). */
export function idempotencyOf(request: FastifyRequest): IdempotencyRequest | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  // RFC 8941 sf-string form ("...") is accepted as well as a bare token.
  const key = typeof raw === 'string' ? raw.replace(/^"(.*)"$/, '$1') : '';
  if (!KEY.test(key)) {
    throw new InvalidRequest(400, [
      { in: 'headers', path: '/idempotency-key', message: 'must be 1..255 visible ASCII characters' },
    ]);
  }
  const fingerprint = createHash('sha256')
    .update(`${request.method} ${request.url}\n`)
    .update(JSON.stringify(request.body ?? null))
    .digest('hex');
  return { key, fingerprint };
}

/** `"3"`, `W/"3"` → 3; `*` or absent → undefined (any version). */
export function versionOf(request: FastifyRequest, header: 'if-match' | 'if-none-match'): number | undefined {
  const raw = request.headers[header];
  if (raw === undefined || raw.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(raw);
  if (!match) {
    throw new InvalidRequest(400, [
      { in: 'headers', path: `/${header}`, message: 'must be an ETag such as "3"' },
    ]);
  }
  return Number(match[1]);
}

/** Sends a write's outcome; a replayed one says so. */
export function sendOutcome<T>(reply: FastifyReply, outcome: WriteOutcome<T>): T {
  reply.code(outcome.status).headers(outcome.headers);
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  return outcome.body;
}

/**
 * Sends JSON text as it is: encoded records (see EncodedEpisode) skip the serializer. Their shape is the
 * route's documented response schema, which the contract tests check on every response.
 */
export function sendJsonText(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}

/** A page of encoded records as the `{ items, next_cursor }` JSON text of SPEC §2. */
export const pageJsonText = (page: { items: { json: string }[]; next_cursor: string | null }): string =>
  `{"items":[${page.items.map((item) => item.json).join(',')}],"next_cursor":${JSON.stringify(page.next_cursor)}}`;
