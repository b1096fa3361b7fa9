import type { FastifyReply } from 'fastify';
import type { Encoded, Page, Written } from '../storage/types.js';

// How routes answer: the status, headers and body of a domain result. A replayed write renders exactly as
// its first answer did, since both come from the same result.

/** Sends a write's result with its status and headers; a replay says so. */
export function sendWritten<T>(
  reply: FastifyReply,
  status: number,
  written: Written<T>,
  headers: Record<string, string> = {},
): T {
  reply.code(status).headers(headers);
  if (written.replayed) reply.header('idempotent-replayed', 'true');
  return written.value;
}

/**
 * Sends JSON text as it is: encoded records skip the serializer. Their shape is the route's documented
 * response schema, which the contract tests check on every response.
 */
export function sendJsonText(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}

/** A page of encoded records as the `{ items, next_cursor }` JSON text of SPEC §2. */
export const pageJsonText = (page: Page<Encoded>): string =>
  `{"items":[${page.items.map((item) => item.json).join(',')}],"next_cursor":${JSON.stringify(page.next_cursor)}}`;
