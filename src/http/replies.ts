import type { FastifyReply } from 'fastify';
import type { Created } from '../services/common/records.js';
import type { Encoded, Page, Written } from '../storage/types.js';
import { etagOf } from './etag.js';

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

/** A create's answer: 201 with a Location the first time; 200 with the stored record for the same id and body. */
export function sendCreated<T extends { id: string; version: number }>(
  reply: FastifyReply,
  created: Created<T>,
  collectionPath: string,
): T {
  const { id, version } = created.value;
  const headers: Record<string, string> = { etag: etagOf(version) };
  if (created.created) headers.location = `${collectionPath}/${id}`;
  return sendWritten(reply, created.created ? 201 : 200, created, headers);
}

/** A change's answer: the record as the change left it, its version as the ETag. */
export const sendChanged = <T extends { version: number }>(reply: FastifyReply, changed: Written<T>): T =>
  sendWritten(reply, 200, changed, { etag: etagOf(changed.value.version) });

/** A read's answer: the encoded record with its ETag, or 304 when If-None-Match already names its version. */
export function sendRecord(
  reply: FastifyReply,
  known: (version: number) => boolean,
  record: { version: number; json: string },
): FastifyReply {
  reply.header('etag', etagOf(record.version));
  if (known(record.version)) return reply.code(304).send();
  return sendJsonText(reply, record.json);
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
