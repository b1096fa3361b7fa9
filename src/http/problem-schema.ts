import { z } from 'zod';
import { FieldError } from '../domain/errors.js';

/** RFC 9457 problem details, as every error response carries them (SPEC §2). */
export const Problem = z
  .strictObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    code: z.string().describe('Stable machine-readable error code, e.g. EPISODE_NOT_FOUND'),
    request_id: z.string(),
    errors: z.array(FieldError).optional().describe('For 400: every invalid field'),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: the `errors` array names each field',
  401: 'No API key, or not a valid one (see WWW-Authenticate)',
  403: "The API key's role is too low for this operation",
  404: 'Not found (also for ids of other tenants)',
  409: 'Conflict with the current state',
  412: 'If-Match does not match the current version',
  413: 'Too large: a body, field or collection exceeds its limit',
  415: 'Unsupported media type: send application/json',
  422: 'Idempotency-Key reused with a different request, a semantic mismatch, or an answer too large for one response',
  429: 'Rate limit of the API key exceeded (RATE_LIMIT_PER_MINUTE); see Retry-After',
  503: 'Database unavailable or overloaded, or a write whose outcome is unknown (WRITE_OUTCOME_UNKNOWN: repeat it with the same Idempotency-Key); see Retry-After',
};

/** Documents the problem responses a route can give; every /v1 route can answer 400, 401, 403, 429 and 503. */
export function problems(
  ...statuses: number[]
): Record<number, { description: string; content: Record<string, { schema: typeof Problem }> }> {
  return Object.fromEntries(
    [...new Set([400, 401, 403, 429, 503, ...statuses])].map((status) => [
      status,
      {
        description: DESCRIPTIONS[status] ?? 'Error',
        content: { 'application/problem+json': { schema: Problem } },
      },
    ]),
  );
}
