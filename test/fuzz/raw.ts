import type { Rng } from './rng.js';

// Malformed HTTP/1.1, written byte for byte on a socket: what Node's parser (or fastify before routing)
// refuses. Each answer must still be a problem+json with a request id, and never a 5xx.

export interface RawRequest {
  label: string;
  bytes: Buffer;
  /** Valid requests in the bytes: at least this many answers must come back. */
  answers: number;
}

const CRLF = '\r\n';
const head = (lines: string[]) => Buffer.from(`${lines.join(CRLF)}${CRLF}${CRLF}`, 'latin1');

export function rawRequest(rng: Rng, path: string, authorization: Record<string, string>): RawRequest {
  const auth = Object.entries(authorization).map(([k, v]) => `${k}: ${v}`);
  const host = 'Host: fuzz';
  const json = '{"task_type":"debugging","task_description":"raw","context":{"domain":"raw"}}';
  const control = String.fromCharCode(rng.pick([0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f]));
  const cases: (() => RawRequest)[] = [
    () => ({
      label: 'request line: garbage',
      bytes: head([
        rng.pick(['GARBAGE', 'GET', 'GET  HTTP/1.1', '\u0000\u0001\u0002', 'GET / HTTP/1.1 extra']),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'request line: bad version',
      bytes: head([
        `GET ${path} ${rng.pick(['HTTP/9.9', 'HTTP/1', 'HTTP/1.1.1', 'HTTPS/1.1', 'http/1.1'])}`,
        host,
      ]),
      answers: 0,
    }),
    () => ({
      label: 'request line: bad method',
      bytes: head([`${rng.pick(['G ET', 'GET\u0001', 'get', 'BREW', '(GET)'])} ${path} HTTP/1.1`, host]),
      answers: 0,
    }),
    () => ({
      label: 'request line: bad target',
      bytes: head([
        `GET ${rng.pick(['/v1/ep isodes', '/v1/\u0000', '/v1/\u00e9', '/v1/\u007f', 'v1/episodes', '//', '/v1/episodes#frag'])} HTTP/1.1`,
        host,
      ]),
      answers: 0,
    }),
    () => ({
      label: 'header: control character',
      bytes: head([`GET ${path} HTTP/1.1`, host, ...auth, `X-Fuzz: a${control}b`]),
      answers: 0,
    }),
    () => ({
      label: 'header: bad name',
      bytes: head([
        `GET ${path} HTTP/1.1`,
        host,
        ...auth,
        rng.pick(['X Fuzz: a', '(x): a', 'X-Fuzz a', ': a', 'X-Fu\u00e9: a']),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'header: obsolete line folding',
      bytes: head([`GET ${path} HTTP/1.1`, host, ...auth, 'X-Fuzz: a', ' b']),
      answers: 0,
    }),
    () => ({
      label: 'Content-Length: malformed',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          `Content-Length: ${rng.pick(['abc', '-1', '1 2', '+5', '0x10', '99999999999999999999', ''])}`,
        ]),
        Buffer.from(json),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'Content-Length: twice, different',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          `Content-Length: ${json.length}`,
          `Content-Length: ${json.length + 1}`,
        ]),
        Buffer.from(json),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'Content-Length with Transfer-Encoding',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          `Content-Length: ${json.length}`,
          'Transfer-Encoding: chunked',
        ]),
        Buffer.from(`${json.length.toString(16)}${CRLF}${json}${CRLF}0${CRLF}${CRLF}`),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'Transfer-Encoding: unknown or bad chunks',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          `Transfer-Encoding: ${rng.pick(['chunked', 'gzip', 'chunked, chunked', 'identity'])}`,
        ]),
        Buffer.from(
          rng.pick([
            `zz${CRLF}${json}${CRLF}0${CRLF}${CRLF}`,
            `${'f'.repeat(20)}${CRLF}x${CRLF}`,
            `5;${'e'.repeat(20_000)}${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
            `0${CRLF}${CRLF}`,
          ]),
        ),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'URL over 16 KB',
      bytes: head([`GET ${path}?q=${'a'.repeat(16_400 + rng.int(10_000))} HTTP/1.1`, host]),
      answers: 0,
    }),
    () => ({
      label: 'header over 16 KB',
      bytes: head([`GET ${path} HTTP/1.1`, host, `X-Fuzz: ${'a'.repeat(16_400 + rng.int(10_000))}`]),
      answers: 0,
    }),
    () => ({ label: 'HTTP/1.1 without Host', bytes: head([`GET ${path} HTTP/1.1`, ...auth]), answers: 1 }),
    () => ({ label: 'HTTP/1.0 without Host', bytes: head([`GET ${path} HTTP/1.0`, ...auth]), answers: 1 }),
    () => ({
      label: 'pipelined requests',
      bytes: Buffer.concat([
        head([`GET ${path} HTTP/1.1`, host, ...auth]),
        head([`GET ${path} HTTP/1.1`, host, ...auth, 'Connection: close']),
      ]),
      answers: 2,
    }),
    () => ({
      label: 'absolute-form target',
      bytes: head([`GET http://elsewhere.example${path} HTTP/1.1`, host, ...auth]),
      answers: 1,
    }),
    () => ({ label: 'asterisk-form target', bytes: head(['OPTIONS * HTTP/1.1', host, ...auth]), answers: 1 }),
    () => ({
      label: 'CONNECT',
      bytes: head(['CONNECT example.com:443 HTTP/1.1', 'Host: example.com:443']),
      answers: 0,
    }),
    () => ({
      label: 'body longer than Content-Length',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          'Content-Length: 10',
        ]),
        Buffer.from(json),
      ]),
      answers: 1,
    }),
    () => ({
      label: 'body shorter than Content-Length',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          `Content-Length: ${json.length + 50}`,
        ]),
        Buffer.from(json),
      ]),
      answers: 0,
    }),
    () => ({
      label: 'invalid UTF-8 in a JSON body',
      bytes: Buffer.concat([
        head([
          'POST /v1/episodes HTTP/1.1',
          host,
          ...auth,
          'Content-Type: application/json',
          `Content-Length: ${json.length}`,
          'Connection: close',
        ]),
        Buffer.from(json.replace('raw"', 'r\u00ffw"'), 'latin1'),
      ]),
      answers: 1,
    }),
    () => ({
      label: 'latin-1 bytes in header values',
      bytes: head([
        `GET ${path} HTTP/1.1`,
        host,
        ...auth,
        'X-Request-Id: caf\u00e9\u00ff',
        'If-None-Match: "\u00e9"',
        'Connection: close',
      ]),
      answers: 1,
    }),
    () => ({
      label: 'random bytes',
      bytes: Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256))),
      answers: 0,
    }),
  ];
  return rng.pick(cases)();
}
