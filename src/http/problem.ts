import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DbError, isUnavailable } from '../db/errors.js';
import { type FieldError, InvalidRequest, pointerOf } from '../domain/errors.js';
import type { Problem } from './problem-schema.js';
import { noteFailure } from './request-log.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

// Fastify's own error codes, renamed to the service's stable vocabulary.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
};

// The field behind each 400 that is not a validation error, so that every 400 names one (SPEC §2).
const FIELD_OF: Record<string, Omit<FieldError, 'message'>> = {
  INVALID_CURSOR: { in: 'query', path: '/cursor' },
  INVALID_CONTENT_LENGTH: { in: 'headers', path: '/content-length' },
};

const IN: Record<string, FieldError['in']> = {
  body: 'body',
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

/** Writes an RFC 9457 problem. The one place every error response of a routed request is shaped. */
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
  // Set here as well as by the onSend hook: framework errors answered before routing skip the hooks.
  reply.header('x-request-id', request.id);
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

/** The problem an error means: the one mapping of thrown errors to responses. */
function answerError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
  retryAfterSeconds: () => number,
): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(error) || error.validation) {
    const errors = validationErrors(error);
    return sendProblem(request, reply, 400, 'VALIDATION_FAILED', error.message, { errors });
  }
  if (error instanceof InvalidRequest) {
    return sendProblem(request, reply, error.statusCode, error.code, error.message, { errors: error.errors });
  }
  if (error instanceof DbError && error.kind === 'outcome_unknown') {
    noteFailure(request, error);
    const retryAfter = error.detail === 'circuit_open' ? retryAfterSeconds() : 1;
    const detail =
      'The database did not confirm the write, and it may have been applied: repeat the request with the same Idempotency-Key to get its outcome';
    return sendProblem(request, reply, 503, 'WRITE_OUTCOME_UNKNOWN', detail, { retryAfter });
  }
  if (error instanceof DbError && isUnavailable(error)) {
    noteFailure(request, error);
    const retryAfter = error.kind === 'circuit_open' ? retryAfterSeconds() : 1;
    const code = error.kind === 'overloaded' ? 'SERVICE_OVERLOADED' : 'DATABASE_UNAVAILABLE';
    return sendProblem(request, reply, 503, code, 'The database is unavailable; retry later', { retryAfter });
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) {
    noteFailure(request, error);
    return sendProblem(request, reply, 500, 'INTERNAL_ERROR', 'An unexpected error occurred');
  }
  const code = FASTIFY_CODES[error.code] ?? (error.code?.startsWith('FST_') ? 'BAD_REQUEST' : error.code);
  const field = FIELD_OF[code];
  const errors =
    status === 400 ? [{ ...(field ?? { in: 'body', path: '/' }), message: error.message }] : undefined;
  return sendProblem(request, reply, status, code ?? 'BAD_REQUEST', error.message, { errors });
}

/**
 * Problem+json for the errors fastify meets before a route runs (a path that is not valid
 * percent-encoding, a path segment over the length limit): the `frameworkErrors` option. The request's
 * hooks do not run for these, so the log line is written here.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const limit = request.server.initialConfig.maxParamLength;
    sendProblem(request, reply, 414, 'URI_TOO_LONG', `A path segment is longer than ${limit} characters`);
  } else if (error.code === 'FST_ERR_BAD_URL') {
    sendProblem(request, reply, 400, 'MALFORMED_URL', 'The path is not valid percent-encoded UTF-8', {
      errors: [{ in: 'params', path: '/', message: 'is not valid percent-encoded UTF-8' }],
    });
  } else {
    answerError(error, request, reply, () => 1);
  }
  request.log.info({ method: request.method, status: reply.statusCode }, 'request refused before routing');
}

// What Node's HTTP parser refuses, by its error code (llhttp's HPE_* and Node's own); others are a 400.
const CONTENT_LENGTH = { in: 'headers', path: '/content-length' } as const;
const CLIENT_ERRORS: Record<
  string,
  { status: number; code: string; detail?: string; field?: Omit<FieldError, 'message'> }
> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'HEADERS_TOO_LARGE',
    detail: 'The request line and headers together exceed 16 KB',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'REQUEST_TIMEOUT',
    detail: 'The request did not arrive in time',
  },
  HPE_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_CONTENT_LENGTH', field: CONTENT_LENGTH },
  HPE_UNEXPECTED_CONTENT_LENGTH: { status: 400, code: 'INVALID_CONTENT_LENGTH', field: CONTENT_LENGTH },
  HPE_INVALID_TRANSFER_ENCODING: {
    status: 400,
    code: 'MALFORMED_REQUEST',
    field: { in: 'headers', path: '/transfer-encoding' },
  },
  HPE_INVALID_CHUNK_SIZE: { status: 400, code: 'MALFORMED_REQUEST', field: { in: 'body', path: '/' } },
};

/** The header whose line holds a control character, from the bytes the parser refused. */
function headerWithControlCharacter(raw: unknown): string | undefined {
  const lines = Buffer.isBuffer(raw) ? raw.toString('latin1').split('\r\n').slice(1) : [];
  const control = (c: string) => (c < ' ' && c !== '\t') || c === '\x7f';
  const line = lines.find((l) => [...l].some(control) && l.includes(':'));
  return line?.slice(0, line.indexOf(':')).trim().toLowerCase();
}

/**
 * Problem+json for requests Node's HTTP parser refuses before fastify sees them (a malformed request line,
 * a control character in a header, a bad Content-Length, headers or URL over 16 KB): the `clientErrorHandler`
 * option. There is no request object yet, so the request id is a fresh one and the answer is written to the
 * socket, which is then closed (the parser cannot find the next request in what follows).
 */
export function clientErrorHandler(
  this: FastifyInstance,
  err: ConnectionError & { reason?: string },
  socket: Socket,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[err.code ?? ''];
  const status = known?.status ?? 400;
  const code = known?.code ?? 'MALFORMED_REQUEST';
  const requestId = randomUUID();
  const detail = known?.detail ?? `The request is not valid HTTP/1.1: ${err.reason ?? err.message}`;
  const header =
    err.code === 'HPE_INVALID_HEADER_TOKEN' ? headerWithControlCharacter(err.rawPacket) : undefined;
  const field = known?.field ?? { in: 'headers', path: header ? pointerOf([header]) : '/' };
  const problem: Problem = {
    type: `urn:engram:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    instance: `urn:uuid:${requestId}`,
    code,
    request_id: requestId,
    ...(status === 400 ? { errors: [{ ...field, message: detail }] } : {}),
  };
  const body = JSON.stringify(problem);
  this.log.info({ request_id: requestId, status, parser_code: err.code }, 'malformed request refused');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export function registerProblemHandlers(
  app: FastifyInstance,
  options: { retryAfterSeconds: () => number },
): void {
  const routes = collectRoutes(app);
  app.setErrorHandler((error: FastifyError, request, reply) =>
    answerError(error, request, reply, options.retryAfterSeconds),
  );

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
