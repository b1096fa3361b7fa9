import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type FieldError, InvalidRequest, pointerOf } from '../domain/errors.js';

// Checks every request gets before its route's schema: what the schemas cannot see, because the parsers in
// front of them already let it through altered or dropped it.

const NO_QUERY = z.strictObject({});

/** The raw query string's problems: a bad %-escape is kept literally by the parser, `__proto__` dropped. */
function queryErrors(url: string): FieldError[] {
  const start = url.indexOf('?');
  if (start < 0) return [];
  const errors: FieldError[] = [];
  for (const pair of url.slice(start + 1).split('&')) {
    if (pair === '') continue;
    const [rawName = '', ...rawValue] = pair.split('=');
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
      decodeURIComponent(rawValue.join('=').replaceAll('+', ' '));
    } catch {
      errors.push({ in: 'query', path: pointerOf([name]), message: 'is not valid percent-encoded UTF-8' });
      continue;
    }
    if (name === '__proto__')
      errors.push({ in: 'query', path: '/__proto__', message: 'unknown query parameter' });
  }
  return errors;
}

export function registerRequestChecks(app: FastifyInstance): void {
  // A /v1 route without a querystring schema takes no parameters: an unknown one is a 400, not ignored.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/') || route.schema?.querystring) return;
    route.schema = { ...route.schema, querystring: NO_QUERY };
  });

  app.addHook('onRequest', async (request) => {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (Node's own answer to it has no body).
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new InvalidRequest(
        400,
        [{ in: 'headers', path: '/host', message: 'is required in HTTP/1.1' }],
        'MALFORMED_REQUEST',
      );
    }
    const errors = queryErrors(request.url);
    if (errors.length > 0) throw new InvalidRequest(400, errors);
  });
}
