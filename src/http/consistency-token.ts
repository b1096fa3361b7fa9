import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { readingFromReplica } from '../db/replica-reads.js';
import type { ReplicationPosition } from '../db/replication-position.js';
import { InvalidRequest } from '../domain/errors.js';

// Read-your-writes across instances and a read replica. A write answers with `Consistency-Token`: the primary's
// replication position once the write was acknowledged. A read that sends it back sees that write: the instance
// reads from its replica once the replica has reached that position, or from the primary when the replica does
// not get there within LIBSQL_READ_WAIT_MS. Reads without a token are served by the replica as it is.

export const CONSISTENCY_TOKEN = 'consistency-token';
const TOKEN = /^\d{1,15}$/;

export const ReadHeaders = z.object({
  [CONSISTENCY_TOKEN]: z
    .string()
    .optional()
    .describe(
      'Token from an earlier write (its Consistency-Token response header): the read then sees that write',
    ),
});

/** Wires the token into the routes of `scope`: GET/HEAD may read from the replica, 2xx writes answer with it. */
export function registerConsistencyToken(scope: FastifyInstance, position: ReplicationPosition): void {
  scope.addHook('onRequest', (request, _reply, done) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return done();
    const raw = request.headers[CONSISTENCY_TOKEN];
    if (raw !== undefined && (typeof raw !== 'string' || !TOKEN.test(raw.trim()))) {
      const message = 'must be the Consistency-Token header of a write response';
      return done(new InvalidRequest(400, [{ in: 'headers', path: `/${CONSISTENCY_TOKEN}`, message }]));
    }
    // The rest of the request (hooks, handler) runs inside this context.
    readingFromReplica(raw === undefined ? null : Number(raw.trim()), done);
  });

  scope.addHook('onSend', async (request, reply) => {
    const written = request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 300;
    const current = position.current;
    if (written && current !== null) reply.header(CONSISTENCY_TOKEN, current.toString());
  });
}
