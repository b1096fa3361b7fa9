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
const JSON_BODY = '{"task_type":"debugging","task_description":"raw","context":{"domain":"raw"}}';

export function rawRequest(rng: Rng, path: string, authorization: Record<string, string>): RawRequest {
  const auth = Object.entries(authorization).map(([k, v]) => `${k}: ${v}`);
  const host = 'Host: fuzz';
  const get = (target: string, ...headers: string[]) =>
    head([`GET ${target} HTTP/1.1`, host, ...auth, ...headers]);
  /** A JSON POST whose framing headers (Content-Length, Transfer-Encoding) are given, followed by `body`. */
  const post = (framing: string[], body: string | Buffer = JSON_BODY) =>
    Buffer.concat([
      head(['POST /v1/episodes HTTP/1.1', host, ...auth, 'Content-Type: application/json', ...framing]),
      Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'),
    ]);
  const length = JSON_BODY.length;
  const control = String.fromCharCode(rng.pick([0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f]));
  const refused = (label: string, bytes: Buffer): RawRequest => ({ label, bytes, answers: 0 });
  const answered = (label: string, bytes: Buffer, answers = 1): RawRequest => ({ label, bytes, answers });
  const cases: (() => RawRequest)[] = [
    () =>
      refused(
        'request line: garbage',
        head([rng.pick(['GARBAGE', 'GET', 'GET  HTTP/1.1', '\u0000\u0001\u0002', 'GET / HTTP/1.1 extra'])]),
      ),
    () =>
      refused(
        'request line: bad version',
        head([
          `GET ${path} ${rng.pick(['HTTP/9.9', 'HTTP/1', 'HTTP/1.1.1', 'HTTPS/1.1', 'http/1.1'])}`,
          host,
        ]),
      ),
    () =>
      refused(
        'request line: bad method',
        head([`${rng.pick(['G ET', 'GET\u0001', 'get', 'BREW', '(GET)'])} ${path} HTTP/1.1`, host]),
      ),
    () =>
      refused(
        'request line: bad target',
        get(
          rng.pick([
            '/v1/ep isodes',
            '/v1/\u0000',
            '/v1/\u00e9',
            '/v1/\u007f',
            'v1/episodes',
            '//',
            '/v1/episodes#frag',
          ]),
        ),
      ),
    () => refused('header: control character', get(path, `X-Fuzz: a${control}b`)),
    () =>
      refused(
        'header: bad name',
        get(path, rng.pick(['X Fuzz: a', '(x): a', 'X-Fuzz a', ': a', 'X-Fu\u00e9: a'])),
      ),
    () => refused('header: obsolete line folding', get(path, 'X-Fuzz: a', ' b')),
    () =>
      refused(
        'Content-Length: malformed',
        post([`Content-Length: ${rng.pick(['abc', '-1', '1 2', '+5', '0x10', '99999999999999999999', ''])}`]),
      ),
    () =>
      refused(
        'Content-Length: twice, different',
        post([`Content-Length: ${length}`, `Content-Length: ${length + 1}`]),
      ),
    () =>
      refused(
        'Content-Length with Transfer-Encoding',
        post(
          [`Content-Length: ${length}`, 'Transfer-Encoding: chunked'],
          `${length.toString(16)}${CRLF}${JSON_BODY}${CRLF}0${CRLF}${CRLF}`,
        ),
      ),
    () =>
      refused(
        'Transfer-Encoding: unknown or bad chunks',
        post(
          [`Transfer-Encoding: ${rng.pick(['chunked', 'gzip', 'chunked, chunked', 'identity'])}`],
          rng.pick([
            `zz${CRLF}${JSON_BODY}${CRLF}0${CRLF}${CRLF}`,
            `${'f'.repeat(20)}${CRLF}x${CRLF}`,
            `5;${'e'.repeat(20_000)}${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
            `0${CRLF}${CRLF}`,
          ]),
        ),
      ),
    () => refused('URL over 16 KB', get(`${path}?q=${'a'.repeat(16_400 + rng.int(10_000))}`)),
    () => refused('header over 16 KB', get(path, `X-Fuzz: ${'a'.repeat(16_400 + rng.int(10_000))}`)),
    () => answered('HTTP/1.1 without Host', head([`GET ${path} HTTP/1.1`, ...auth])),
    () => answered('HTTP/1.0 without Host', head([`GET ${path} HTTP/1.0`, ...auth])),
    () => answered('pipelined requests', Buffer.concat([get(path), get(path, 'Connection: close')]), 2),
    () => answered('absolute-form target', get(`http://elsewhere.example${path}`)),
    () => answered('asterisk-form target', head(['OPTIONS * HTTP/1.1', host, ...auth])),
    () => refused('CONNECT', head(['CONNECT example.com:443 HTTP/1.1', 'Host: example.com:443'])),
    () => answered('body longer than Content-Length', post(['Content-Length: 10'])),
    () => refused('body shorter than Content-Length', post([`Content-Length: ${length + 50}`])),
    () =>
      answered(
        'invalid UTF-8 in a JSON body',
        post(
          [`Content-Length: ${length}`, 'Connection: close'],
          Buffer.from(JSON_BODY.replace('raw"', 'r\u00ffw"'), 'latin1'),
        ),
      ),
    () =>
      answered(
        'latin-1 bytes in header values',
        get(path, 'X-Request-Id: caf\u00e9\u00ff', 'If-None-Match: "\u00e9"', 'Connection: close'),
      ),
    () => refused('random bytes', Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256)))),
  ];
  return rng.pick(cases)();
}
