import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidRequest } from '../domain/errors.js';
import { fingerprintOf } from '../services/common/fingerprint.js';
import type { IdempotencyKey } from '../services/common/writes.js';
import { ReadHeaders } from './consistency-token.js';

// The wire conventions of SPEC §2 that every resource shares: tenancy, Idempotency-Key, the headers.

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
  'if-match': z
    .string()
    .optional()
    .describe(
      'ETags the change may start from ("3", a list, or *); 412 when the record is at another version',
    ),
});
export const GetHeaders = ReadHeaders.extend({
  'if-none-match': z
    .string()
    .optional()
    .describe('ETags the caller has (a list, or *); 304 when one of them is current'),
});

/**
 * The request's Idempotency-Key with its fingerprint (method, URL and body, key order irrelevant). Keys
 * stored before migration 2 were fingerprinted from the body as sent: a replay of one is recognised too.
 */
export function idempotencyOf(request: FastifyRequest): IdempotencyKey | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  // RFC 8941 sf-string form ("...") is accepted as well as a bare token.
  const key = typeof raw === 'string' ? raw.replace(/^"(.*)"$/, '$1') : '';
  if (!KEY.test(key)) {
    throw new InvalidRequest(400, [
      { in: 'headers', path: '/idempotency-key', message: 'must be 1..255 visible ASCII characters' },
    ]);
  }
  const body = request.body ?? null;
  const asSent = createHash('sha256')
    .update(`${request.method} ${request.url}\n`)
    .update(JSON.stringify(body))
    .digest('hex');
  return { key, fingerprints: [fingerprintOf([request.method, request.url, body]), asSent] };
}
