import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildIdentityApp, type TestIdentity } from '../helpers/identities.js';
import { alteredFields, responseProblems, Validators } from './checks.js';
import { loadDocument } from './document.js';
import { parseResponses } from './http.js';
import { ANONYMOUS, hostileRequest, type Identity, toSent, validRequest } from './requests.js';
import { Rng } from './rng.js';
import { runFuzz } from './runner.js';
import { Entries, encode, RawJson, validValue } from './values.js';

// The fuzz tier checks itself: its generators make what the document allows, its runs are reproducible from
// the seed, and its checks fail against a server that breaks the rules (a tier that cannot fail is a defect).

const doc = loadDocument();
const validators = new Validators();

describe('fuzz generators', () => {
  it('valid values - every request body and parameter of the document - valid against its own schema', () => {
    const rng = new Rng(7);
    for (const op of doc.operations) {
      for (const schema of [...op.params.map((p) => p.schema), ...(op.body ? [op.body.schema] : [])]) {
        for (let i = 0; i < 5; i++) {
          const value = rng.draw(validValue(schema));
          expect(
            validators.problem(schema, value),
            `${op.key}: ${JSON.stringify(value)?.slice(0, 300)}`,
          ).toBeUndefined();
        }
      }
    }
  });

  it('requests - the same seed - the same bytes on the wire, valid and hostile', () => {
    const plans = (seed: number) => {
      const rng = new Rng(seed);
      return doc.operations.flatMap((op) => {
        const base = validRequest(rng, op, { id: '019ab1e0-0000-7000-8000-000000000000', n: '1' }, ANONYMOUS);
        return [toSent(base), toSent(hostileRequest(rng, validators, base))];
      });
    };
    expect(plans(42)).toEqual(plans(42));
    expect(plans(42)).not.toEqual(plans(43));
  });

  it('encode - raw parts and repeated keys - written byte for byte', () => {
    const body = {
      a: RawJson.text('1e400'),
      b: new Entries([
        ['k', 1],
        ['k', 2],
      ]),
      c: [new RawJson(Buffer.from([0x22, 0xff, 0x22]))],
    };
    expect(encode(body)).toEqual(
      Buffer.concat([
        Buffer.from('{"a":1e400,"b":{"k":1,"k":2},"c":["'),
        Buffer.from([0xff]),
        Buffer.from('"]}'),
      ]),
    );
  });
});

describe('fuzz checks', () => {
  const op = doc.operations.find((o) => o.key === 'POST /v1/episodes');
  if (!op?.body) throw new Error('the document has no POST /v1/episodes');
  const response = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    status,
    headers: {
      'x-request-id': 'r1',
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
      ...headers,
    },
    body: Buffer.from(JSON.stringify(body)),
  });
  const problem = {
    type: 'urn:x',
    title: 'Bad Request',
    status: 400,
    detail: 'd',
    instance: '/v1/episodes',
    code: 'X',
    request_id: 'r1',
  };

  it('responseProblems - a 5xx, a plain JSON error, a problem without errors or with another request id - each named', () => {
    expect(
      responseProblems(validators, doc.problem, response(500, { ...problem, status: 500 }), op, {}),
    ).toContain('server error 500');
    expect(
      responseProblems(
        validators,
        doc.problem,
        response(400, { error: 'x' }, { 'content-type': 'application/json' }),
        op,
        {},
      ),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/without problem\+json/),
        expect.stringMatching(/Problem schema/),
      ]),
    );
    expect(responseProblems(validators, doc.problem, response(400, problem), op, {})).toContain(
      '400 without an errors array',
    );
    expect(
      responseProblems(
        validators,
        doc.problem,
        response(400, { ...problem, request_id: 'other', errors: [{ in: 'body', path: '/', message: 'm' }] }),
        op,
        {},
      ),
    ).toContain('problem request_id differs from the x-request-id header');
  });

  it('responseProblems - a 2xx off its schema, an undocumented status, a 2xx for what the document forbids - each named', () => {
    expect(responseProblems(validators, doc.problem, response(201, { id: 1 }), op, {}).join()).toMatch(
      /does not match its documented schema/,
    );
    expect(
      responseProblems(validators, doc.problem, response(418, { ...problem, status: 418 }), op, {}).join(),
    ).toMatch(/not documented/);
    expect(
      responseProblems(validators, doc.problem, response(204, ''), op, { clientError: 'bad' }).join(),
    ).toMatch(/expected a 4xx/);
  });

  it('alteredFields - a value stored differently, a key lost, a null not honoured - each named; timestamps and normalised tags skipped', () => {
    const schema = op.body?.schema ?? {};
    const sent = {
      task_description: 'a',
      context: { domain: 'd', language: 'x' },
      start_time: '2026-01-01T01:00:00+01:00',
      tags: ['A'],
    };
    const stored = {
      task_description: 'a',
      context: { domain: 'd', language: 'x' },
      start_time: '2026-01-01T00:00:00.000Z',
      tags: ['a'],
    };
    expect(alteredFields(validators, sent, schema, stored)).toEqual([]);
    expect(alteredFields(validators, sent, schema, { ...stored, task_description: 'b' })).toEqual([
      expect.stringMatching(/^\/task_description/),
    ]);
    expect(alteredFields(validators, sent, schema, { ...stored, context: { domain: 'd' } })).toEqual([
      expect.stringMatching(/^\/context\/language: sent "x", not stored/),
    ]);
  });

  it('parseResponses - pipelined, chunked and body-less answers - all read', () => {
    const wire = Buffer.from(
      'HTTP/1.1 204 No Content\r\nX-Request-Id: a\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
        'HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}',
    );
    expect(parseResponses(wire).map((r) => [r.status, r.body.toString()])).toEqual([
      [204, ''],
      [200, 'abcde'],
      [400, '{}'],
    ]);
  });
});

describe('fuzz runs against a server that breaks the rules', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const open = server;
    server = undefined;
    open?.closeAllConnections();
    if (open) await new Promise((resolve) => open.close(resolve));
  });

  async function fuzzAgainst(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    server = createServer(handler);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return runFuzz({ host: '127.0.0.1', port, seed: 1, runs: 60, workers: 2 });
  }

  it('a server that answers 500 - every request a failure', async () => {
    const report = await fuzzAgainst((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/problem+json', 'x-request-id': 'r' });
      res.end(
        JSON.stringify({
          type: 't',
          title: 'e',
          status: 500,
          detail: 'd',
          instance: '/',
          code: 'E',
          request_id: 'r',
        }),
      );
    });
    expect(report.failures.length).toBeGreaterThan(0);
    expect(
      report.failures.every((f) => f.reasons.includes('server error 500') || f.label.startsWith('raw')),
    ).toBe(true);
  });

  it('a server that answers plain JSON errors without a request id - found', async () => {
    const report = await fuzzAgainst((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    });
    const reasons = report.failures.flatMap((f) => f.reasons);
    expect(reasons).toContain('no x-request-id header');
    expect(reasons.some((r) => r.includes('without problem+json'))).toBe(true);
  });

  it('a server that acknowledges creates it does not keep - found by the model (read-back)', async () => {
    let next = 0;
    const report = await fuzzAgainst((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('x-request-id', 'r');
        if (req.method === 'POST' && req.url === '/v1/episodes') {
          const id = `019ab1e0-0000-7000-8000-${String(next++).padStart(12, '0')}`;
          res.writeHead(201, { 'content-type': 'application/json', location: `/v1/episodes/${id}` });
          res.end(JSON.stringify({ id }));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(
          JSON.stringify({
            type: 't',
            title: 'e',
            status: 404,
            detail: 'd',
            instance: '/',
            code: 'E',
            request_id: 'r',
          }),
        );
      });
    });
    expect(report.failures.flatMap((f) => f.reasons)).toContain('an acknowledged item is gone');
  });

  /**
   * The real service with two tenants × three roles, behind a proxy that swaps each request's key for the one
   * `keyFor` picks: the service then acts for someone other than the caller, as a broken auth layer would.
   */
  async function fuzzThroughKeySwap(
    keyFor: (caller: TestIdentity, all: readonly TestIdentity[]) => TestIdentity,
  ) {
    const ids = await buildIdentityApp({}, { listen: true });
    const upstream = new URL(ids.url);
    const byKey = new Map(ids.identities.map((i) => [`Bearer ${i.key}`, i]));
    server = createServer((req, res) => {
      const caller = byKey.get(req.headers.authorization ?? '');
      const headers = { ...req.headers };
      if (caller) headers.authorization = `Bearer ${keyFor(caller, ids.identities).key}`;
      const forward = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    try {
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const identities: Identity[] = ids.identities.map((i) => ({
        name: `${i.slot}/${i.role}`,
        tenant: i.tenant,
        role: i.role,
        headers: { authorization: `Bearer ${i.key}` },
      }));
      const report = await runFuzz({ host: '127.0.0.1', port, seed: 1, runs: 300, workers: 2, identities });
      return report.failures.flatMap((f) => f.reasons);
    } finally {
      await ids.close();
    }
  }

  it("a service that acts for tenant A whoever calls - tenant A's records answered to tenant B, found", async () => {
    const reasons = await fuzzThroughKeySwap(
      (caller, all) => all.find((i) => i.slot === 'a' && i.role === caller.role) as TestIdentity,
    );
    expect(
      reasons.some((r) => /record\(s\) of another tenant answered to b\//.test(r)),
      reasons.join('\n'),
    ).toBe(true);
  }, 120_000);

  it('a service that lets a read key write - found', async () => {
    const reasons = await fuzzThroughKeySwap(
      (caller, all) =>
        (caller.role === 'read'
          ? all.find((i) => i.slot === caller.slot && i.role === 'write')
          : caller) as TestIdentity,
    );
    expect(
      reasons.some((r) => /a read key (creates|changes) nothing/.test(r)),
      reasons.join('\n'),
    ).toBe(true);
  }, 120_000);
});
