import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Problem } from '../../src/http/problem-schema.js';
import { loadDocument } from '../fuzz/document.js';
import { type Received, sendRaw } from '../fuzz/http.js';
import { fillPath } from '../fuzz/requests.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// Issue 8 reproducers (items 1 bullet 3, 3, 4, 5), each over real HTTP: every error is problem+json with a
// request id, bad input is a 400 naming the field, and nothing accepted is altered.

const EPISODE = {
  task_type: 'debugging',
  task_description: 'fix the flaky test',
  context: { domain: 'web' },
};
const ID = '019ab1e0-0000-7000-8000-000000000000';
const json = { 'content-type': 'application/json' };

/** A pino logger that keeps its lines, parsed, in `lines`. */
function capture(lines: Record<string, unknown>[]) {
  return pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  );
}

let app: TestApp;
let port: number;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  app = await buildTestApp({}, { logger: capture(logLines) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});
afterAll(() => app.close());

/** One request as raw bytes on its own connection; the single answer parsed. */
async function raw(text: string | Buffer, answers = 0): Promise<Received> {
  const [res] = await sendRaw(
    '127.0.0.1',
    port,
    Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'),
    answers,
  );
  if (!res) throw new Error('no answer');
  return res;
}

async function http(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
) {
  const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const head = [
    `${method} ${path} HTTP/1.1`,
    'Host: test',
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  if (bytes) head.push(`Content-Length: ${bytes.length}`);
  return raw(
    Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), bytes ?? Buffer.alloc(0)]),
    1,
  );
}

/** The answer is an RFC 9457 problem with this status, its request id equal to the x-request-id header. */
function problemOf(res: Received, status: number): Problem {
  expect(res.status, res.body.toString()).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.body.toString()) as Problem;
  expect(body).toMatchObject({
    status,
    type: expect.stringMatching(/^urn:engram:problem:/),
    title: expect.any(String),
  });
  expect(body.request_id).toBe(res.headers['x-request-id']);
  expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
  if (status === 400) expect(body.errors?.length).toBeGreaterThan(0);
  return body;
}

describe('issue 8.1: no 500 from input', () => {
  it('GET /v1/episodes?q=a%00 - U+0000 in the full-text query - 400 naming q, not an FTS5 error', async () => {
    await http('POST', '/v1/episodes', JSON.stringify(EPISODE), json);
    const body = problemOf(await http('GET', '/v1/episodes?q=a%00'), 400);
    expect(body.errors).toEqual([{ in: 'query', path: '/q', message: 'must not contain U+0000' }]);
  });
});

describe('issue 8.3: nothing accepted is altered', () => {
  it.each([
    [
      'a field',
      '{"task_type":"debugging","task_description":"x","context":{"domain":"w"},"reward":{"total":1e400,"base":1,"efficiency":1,"complexity_bonus":1,"quality_multiplier":1,"learning_bonus":0}}',
      '/reward/total',
    ],
    [
      'free-form parameters (stored as null before)',
      '{"task_type":"debugging","task_description":"x","context":{"domain":"w"},"steps":[{"tool":"t","action":"a","parameters":{"x":-1e400}}]}',
      '/steps/0/parameters/x',
    ],
    [
      'an integer a double cannot hold',
      '{"task_type":"debugging","task_description":"x","context":{"domain":"w"},"metadata":{},"steps":[{"tool":"t","action":"a","parameters":{"id":12345678901234567891}}]}',
      '/steps/0/parameters/id',
    ],
    [
      'a number that underflows to 0',
      '{"task_type":"debugging","task_description":"x","context":{"domain":"w"},"steps":[{"tool":"t","action":"a","latency_ms":1e-400}]}',
      '/steps/0/latency_ms',
    ],
  ])('a number that does not fit a double, in %s - 400 naming the field', async (_where, body, path) => {
    const problem = problemOf(await http('POST', '/v1/episodes', body, json), 400);
    expect(problem.errors).toEqual([{ in: 'body', path, message: expect.stringMatching(/double/) }]);
  });

  it('invalid UTF-8 in a string - 400 naming the field (stored as U+FFFD before); in a key - names the object', async () => {
    const body = Buffer.concat([
      Buffer.from('{"task_type":"debugging","task_description":"fix '),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","context":{"domain":"w"}}'),
    ]);
    const problem = problemOf(await http('POST', '/v1/episodes', body, json), 400);
    expect(problem).toMatchObject({
      code: 'MALFORMED_JSON',
      errors: [{ in: 'body', path: '/task_description', message: expect.stringMatching(/UTF-8/) }],
    });
    const inKey = Buffer.concat([
      Buffer.from('{"task_type":"debugging","task_description":"x","context":{"domain":"w"},"metadata":{"k'),
      Buffer.from([0xc3]),
      Buffer.from('":"v"}}'),
    ]);
    expect(problemOf(await http('POST', '/v1/episodes', inKey, json), 400).errors?.[0]?.path).toBe(
      '/metadata',
    );
    const listed = JSON.parse((await http('GET', '/v1/episodes?limit=1000')).body.toString()) as {
      items: { task_description: string }[];
    };
    expect(listed.items.some((e) => e.task_description.includes('\ufffd'))).toBe(false);
  });

  it('a key given twice - 400 naming it (JSON.parse would keep the last silently)', async () => {
    const problem = problemOf(
      await http(
        'POST',
        '/v1/episodes',
        '{"task_type":"debugging","task_type":"testing","task_description":"x","context":{"domain":"w"}}',
        json,
      ),
      400,
    );
    expect(problem.errors).toEqual([
      { in: 'body', path: '/task_type', message: expect.stringMatching(/twice/) },
    ]);
  });

  it('the same values written as JSON does (a large double, 2100.5) - accepted and read back identical', async () => {
    const body = {
      ...EPISODE,
      steps: [
        {
          tool: 't',
          action: 'a',
          latency_ms: 2100.5,
          parameters: { big: 203454882460966850000, tiny: 5e-324 },
        },
      ],
    };
    const created = await http('POST', '/v1/episodes', JSON.stringify(body), json);
    expect(created.status, created.body.toString()).toBe(201);
    const { id } = JSON.parse(created.body.toString()) as { id: string };
    const step = JSON.parse((await http('GET', `/v1/episodes/${id}/steps/1`)).body.toString());
    expect(step).toMatchObject({
      latency_ms: 2100.5,
      parameters: { big: 203454882460966850000, tiny: 5e-324 },
    });
  });
});

describe('issue 8.4: every error is problem+json with a request id', () => {
  it('bad percent-encoding in the path (/v1/episodes/%ZZ) - 400 MALFORMED_URL naming in=params', async () => {
    const problem = problemOf(await http('GET', '/v1/episodes/%ZZ'), 400);
    expect(problem).toMatchObject({
      code: 'MALFORMED_URL',
      instance: '/v1/episodes/%ZZ',
      errors: [{ in: 'params' }],
    });
  });

  it('a path parameter over the length limit - 414 URI_TOO_LONG', async () => {
    expect(problemOf(await http('GET', `/v1/episodes/${'a'.repeat(200)}`), 414).code).toBe('URI_TOO_LONG');
  });

  it('a URL over 16 KB - 431 HEADERS_TOO_LARGE from the HTTP parser, as problem+json', async () => {
    expect(
      problemOf(await raw(`GET /v1/episodes?q=${'a'.repeat(17_000)} HTTP/1.1\r\nHost: t\r\n\r\n`), 431).code,
    ).toBe('HEADERS_TOO_LARGE');
  });

  it('a control character in a header value - 400 naming the header', async () => {
    const problem = problemOf(
      await raw('GET /v1/episodes HTTP/1.1\r\nHost: t\r\nX-Trace: a\u0001b\r\n\r\n'),
      400,
    );
    expect(problem.errors).toEqual([{ in: 'headers', path: '/x-trace', message: expect.any(String) }]);
  });

  it.each(['abc', '-1', '1 2'])(
    'Content-Length: %s - 400 INVALID_CONTENT_LENGTH naming the header',
    async (length) => {
      const problem = problemOf(
        await raw(
          `POST /v1/episodes HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{}`,
        ),
        400,
      );
      expect(problem).toMatchObject({
        code: 'INVALID_CONTENT_LENGTH',
        errors: [{ in: 'headers', path: '/content-length' }],
      });
    },
  );

  it.each(['GARBAGE', 'GET /v1/episodes HTTP/9.9', 'GET /v1/ep isodes HTTP/1.1', 'G\u0001T / HTTP/1.1'])(
    'a malformed request line (%j) - 400 MALFORMED_REQUEST',
    async (line) => {
      expect(problemOf(await raw(`${line}\r\nHost: t\r\n\r\n`), 400).code).toBe('MALFORMED_REQUEST');
    },
  );

  it('HTTP/1.1 without Host - 400 naming the header (Node alone answers an empty 400)', async () => {
    const problem = problemOf(await raw('GET /v1/episodes HTTP/1.1\r\n\r\n', 1), 400);
    expect(problem.errors).toEqual([{ in: 'headers', path: '/host', message: expect.any(String) }]);
  });

  it('a malformed JSON body - 400 MALFORMED_JSON whose errors array says where', async () => {
    const problem = problemOf(
      await http('POST', '/v1/episodes', '{"task_type": "debugging", "context": {"domain": ', json),
      400,
    );
    expect(problem).toMatchObject({
      code: 'MALFORMED_JSON',
      errors: [{ in: 'body', path: '/context/domain' }],
    });
  });

  it('an unknown query parameter on every operation of the document (__proto__ and constructor included) - 400 naming it', async () => {
    // Bodies are validated before the query: each operation gets a valid one, so the query is what fails.
    const bodies: Record<string, unknown> = {
      'POST /v1/episodes': EPISODE,
      'POST /v1/episodes/batch': { episodes: [EPISODE] },
      'PATCH /v1/episodes/{id}': {},
      'POST /v1/episodes/{id}/complete': { outcome: { type: 'failure', reason: 'gave up' } },
      'POST /v1/episodes/{id}/steps': { tool: 'bash', action: 'ls' },
    };
    const accepted: string[] = [];
    for (const op of loadDocument().operations) {
      const path = fillPath(op.path, { id: ID, n: '1', item_type: 'episode', item_id: ID });
      const body = op.body ? JSON.stringify(bodies[op.key] ?? {}) : undefined;
      for (const name of ['__proto__', 'constructor', 'unknown_param']) {
        const res = await http(op.method, `${path}?${name}=1`, body, op.body ? json : {});
        if (res.status !== 400) accepted.push(`${op.key}?${name}: ${res.status}`);
        else if (op.key in bodies || !op.body)
          expect(JSON.stringify(problemOf(res, 400).errors), op.key).toContain(name);
      }
    }
    expect(accepted).toEqual([]);
  });

  it('invalid percent-encoding in a query value - 400 naming the parameter (it was searched for literally)', async () => {
    const problem = problemOf(await http('GET', '/v1/episodes?domain=%FF'), 400);
    expect(problem.errors).toEqual([
      { in: 'query', path: '/domain', message: 'is not valid percent-encoded UTF-8' },
    ]);
  });
});

describe('issue 8.5: what a new user runs into', () => {
  it('latency_ms 2100.5 (an agent timing a step in Python) - accepted and read back as sent', async () => {
    const created = JSON.parse(
      (await http('POST', '/v1/episodes', JSON.stringify(EPISODE), json)).body.toString(),
    ) as { id: string };
    const res = await http(
      'POST',
      `/v1/episodes/${created.id}/steps`,
      JSON.stringify({ tool: 'python', action: 'run', latency_ms: 2100.5 }),
      json,
    );
    expect(res.status, res.body.toString()).toBe(201);
    expect(JSON.parse(res.body.toString()).latency_ms).toBe(2100.5);
  });

  it('a 5xx - logged once, at error, with its cause; readiness probes at debug', async () => {
    const lines: Record<string, unknown>[] = [];
    const faulty = await buildTestApp({}, { faults: true, logger: capture(lines) });
    try {
      faulty.faults.fault = () => {
        throw Object.assign(new Error('no such table: x'), { code: 'SQLITE_ERROR' });
      };
      const res = await faulty.inject({ method: 'GET', url: `/v1/episodes/${ID}` });
      expect(res.statusCode).toBe(500);
      const about = lines.filter((l) => l.request_id === res.headers['x-request-id']);
      expect(about).toHaveLength(1);
      expect(about[0]).toMatchObject({
        level: 50,
        status: 500,
        err: { message: expect.stringContaining('no such table') },
      });
      faulty.faults.fault = undefined;
      const ready = await faulty.inject({ method: 'GET', url: '/health/ready' });
      expect(lines.find((l) => l.request_id === ready.headers['x-request-id'])).toMatchObject({ level: 20 });
    } finally {
      await faulty.close();
    }
  });

  it('the request log - one line per request', () => {
    const ids = logLines
      .filter((l) => l.msg === 'request completed' || l.msg === 'request failed')
      .map((l) => l.request_id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

it('two pipelined requests on one connection - two problem+json answers with their own request ids', async () => {
  const two =
    'GET /v1/nothing HTTP/1.1\r\nHost: t\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';
  const answers = await sendRaw('127.0.0.1', port, Buffer.from(two), 2);
  expect(answers.map((a) => a.status)).toEqual([404, 404]);
  expect(answers[0]?.headers['x-request-id']).not.toBe(answers[1]?.headers['x-request-id']);
});
