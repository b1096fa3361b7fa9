import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DbError, isUnavailable } from '../db/errors.js';
import { type FieldError, InvalidRequest } from '../domain/errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  request_id: string;
  errors?: FieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

// Fastify's own error codes, renamed to the service's stable vocabulary.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
};

const IN: Record<string, FieldError['in']> = {
  body: 'body',
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

/** Writes an RFC 9457 problem. The one place every error response is shaped. */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: { errors?: FieldError[]; retryAfter?: number } = {},
): FastifyReply {
  const problem: Problem = {
    type: `urn:engram:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    instance: request.url,
    code,
    request_id: request.id,
    ...(extra.errors ? { errors: extra.errors } : {}),
  };
  if (extra.retryAfter !== undefined) reply.header('retry-after', String(extra.retryAfter));
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(problem);
}

function validationErrors(error: FastifyError): FieldError[] {
  const where = IN[(error as { validationContext?: string }).validationContext ?? 'body'] ?? 'body';
  return (error.validation ?? []).map((v) => ({
    in: where,
    path: v.instancePath || '/',
    message: v.message ?? 'is invalid',
  }));
}

export function registerProblemHandlers(
  app: FastifyInstance,
  options: { retryAfterSeconds: () => number },
): void {
  const routes = collectRoutes(app);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error) || error.validation) {
      const errors = validationErrors(error);
      return sendProblem(request, reply, 400, 'VALIDATION_FAILED', error.message, { errors });
    }
    if (error instanceof InvalidRequest) {
      return sendProblem(request, reply, error.statusCode, error.code, error.message, {
        errors: error.errors,
      });
    }
    if (error instanceof DbError && error.kind === 'outcome_unknown') {
      request.log.warn({ err: error }, 'write outcome unknown');
      const retryAfter = error.detail === 'circuit_open' ? options.retryAfterSeconds() : 1;
      const detail =
        'The database did not confirm the write, and it may have been applied: repeat the request with the same Idempotency-Key to get its outcome';
      return sendProblem(request, reply, 503, 'WRITE_OUTCOME_UNKNOWN', detail, { retryAfter });
    }
    if (error instanceof DbError && isUnavailable(error)) {
      request.log.warn({ err: error, kind: error.kind }, 'database unavailable');
      const retryAfter = error.kind === 'circuit_open' ? options.retryAfterSeconds() : 1;
      const code = error.kind === 'overloaded' ? 'SERVICE_OVERLOADED' : 'DATABASE_UNAVAILABLE';
      return sendProblem(request, reply, 503, code, 'The database is unavailable; retry later', {
        retryAfter,
      });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(request, reply, 500, 'INTERNAL_ERROR', 'An unexpected error occurred');
    }
    const code = FASTIFY_CODES[error.code] ?? (error.code?.startsWith('FST_') ? 'BAD_REQUEST' : error.code);
    return sendProblem(request, reply, status, code ?? 'BAD_REQUEST', error.message);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = routes.filter((r) => r.pattern.test(path)).map((r) => r.method);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(request, reply, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed here`);
    }
    return sendProblem(
      request,
      reply,
      404,
      'ROUTE_NOT_FOUND',
      `No route ${request.method} ${request.url.split('?')[0]}`,
    );
  });
}

/** Route patterns as regular expressions, so an unmatched request can be told 404 from 405. */
function collectRoutes(app: FastifyInstance): { method: string; pattern: RegExp }[] {
  const routes: { method: string; pattern: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/:[A-Za-z0-9_]+/g, '[^/]+')
      .replace(/\*/g, '.*');
    const pattern = new RegExp(`^${source}/?$`);
    for (const method of [route.method].flat()) routes.push({ method, pattern });
  });
  return routes;
}
