import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { buildIdentityApp, type IdentityApp } from '../helpers/identities.js';
import {
  type ApiDocument,
  apiDocument,
  fillPath,
  minimalValue,
  type Operation,
  operationsOf,
  requiredQuery,
} from '../helpers/openapi-walk.js';

// SPEC §6: with keys configured every /v1 call needs `Authorization: Bearer <key>` (401 otherwise), the
// key's role must reach the operation's (403 otherwise); operations endpoints stay open; /metrics takes
// METRICS_TOKEN; keys are never logged. Every /v1 operation of the OpenAPI document is walked.

const SOME_ID = '01936f3e-1c2a-7b3c-8d4e-5f6a7b8c9d0e';

function expectProblem(res: LightMyRequestResponse, status: number, code: string): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code, request_id: res.headers['x-request-id'] });
  expect(res.headers['x-request-id']).toBeTruthy();
}

/** One request for `op` with placeholder ids and a minimal valid body. */
function requestFor(op: Operation, doc: ApiDocument, headers: Record<string, string>) {
  const params = Object.fromEntries(op.pathParams.map((name) => [name, name === 'n' ? '1' : SOME_ID]));
  const query = new URLSearchParams(requiredQuery(op, doc)).toString();
  return {
    method: op.method as 'GET',
    url: `${fillPath(op.path, params)}${query ? `?${query}` : ''}`,
    headers,
    ...(op.body ? { payload: minimalValue(op.body, doc) as object } : {}),
  };
}

describe('API keys on every /v1 operation', () => {
  let ids: IdentityApp;
  let doc: ApiDocument;
  let ops: Operation[];
  beforeAll(async () => {
    ids = await buildIdentityApp();
    doc = await apiDocument(ids.app);
    ops = operationsOf(doc);
  });
  afterAll(() => ids.close());

  it('every operation - no Authorization - 401 AUTHENTICATION_REQUIRED with WWW-Authenticate: Bearer', async () => {
    expect(ops.length).toBeGreaterThan(5);
    for (const op of ops) {
      const res = await ids.app.inject(requestFor(op, doc, {}));
      expectProblem(res, 401, 'AUTHENTICATION_REQUIRED');
      expect(res.headers['www-authenticate'], `${op.method} ${op.path}`).toBe('Bearer realm="engram"');
    }
  });

  it('every operation - unknown key, a key of another scheme, an empty bearer - 401, the token not echoed', async () => {
    const tokens = ['not-a-key-but-long-enough', `${ids.identities[0]?.key}x`];
    for (const op of ops) {
      for (const token of tokens) {
        const res = await ids.app.inject(requestFor(op, doc, { authorization: `Bearer ${token}` }));
        expectProblem(res, 401, 'INVALID_API_KEY');
        expect(res.headers['www-authenticate']).toBe('Bearer realm="engram", error="invalid_token"');
        expect(res.body).not.toContain(token);
      }
      const basic = `Basic ${Buffer.from(`u:${ids.identities[0]?.key}`).toString('base64')}`;
      expectProblem(
        await ids.app.inject(requestFor(op, doc, { authorization: basic })),
        401,
        'AUTHENTICATION_REQUIRED',
      );
      expectProblem(
        await ids.app.inject(requestFor(op, doc, { authorization: 'Bearer ' })),
        401,
        'AUTHENTICATION_REQUIRED',
      );
    }
  });

  it('every operation - each role - 403 INSUFFICIENT_ROLE exactly when the role is below x-required-role', async () => {
    const rank = { read: 0, write: 1, admin: 2 } as const;
    for (const op of ops) {
      expect(op.role, `${op.method} ${op.path} documents its role`).toMatch(/^(read|write|admin)$/);
      for (const role of ['read', 'write', 'admin'] as const) {
        const res = await ids.app.inject(requestFor(op, doc, ids.headers('a', role)));
        const where = `${role} key on ${op.method} ${op.path}`;
        if (rank[role] < rank[op.role as keyof typeof rank]) {
          expectProblem(res, 403, 'INSUFFICIENT_ROLE');
        } else {
          expect([401, 403], `${where}: ${res.body}`).not.toContain(res.statusCode);
          expect(res.statusCode, `${where}: ${res.body}`).toBeLessThan(500);
        }
      }
    }
  });

  it('roles - GET and read-only searches (POST /v1/search/..., POST /v1/spatiotemporal/search) need read, every other method write; nothing on /v1 needs admin today', () => {
    for (const op of ops) {
      const readOnly =
        op.method === 'GET' || op.path.startsWith('/v1/search/') || op.path === '/v1/spatiotemporal/search';
      expect(op.role, `${op.method} ${op.path}`).toBe(readOnly ? 'read' : 'write');
    }
  });

  it('a key - acts in its own tenant: what it creates carries the tenant of the key', async () => {
    const body = { task_type: 'debugging', task_description: 'whose is it', context: { domain: 'auth' } };
    for (const slot of ['a', 'b'] as const) {
      const res = await ids.app.inject({
        method: 'POST',
        url: '/v1/episodes',
        payload: body,
        headers: ids.headers(slot, 'write'),
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().tenant).toBe(ids.tenants[slot]);
    }
  });

  it.each(['/health', '/health/live', '/health/ready', '/metrics', '/openapi.json', '/docs/'])(
    'operations endpoint %s - no key - still answers 200',
    async (url) => {
      const res = await ids.app.inject({ method: 'GET', url });
      expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    },
  );

  it('an unknown /v1 path without a key - 401, so nothing under /v1 is answered before authentication', async () => {
    expectProblem(
      await ids.app.inject({ method: 'GET', url: '/v1/nothing-here' }),
      401,
      'AUTHENTICATION_REQUIRED',
    );
    expectProblem(await ids.app.inject({ method: 'GET', url: '/v1' }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('roles declared by a route', () => {
  let ids: IdentityApp;
  beforeAll(async () => {
    ids = await buildIdentityApp();
    // A read-only POST (as searches are) declares `read`; an operator-only route declares `admin`.
    ids.app.post('/v1/test/search', { config: { role: 'read' } }, async () => ({ ok: true }));
    ids.app.get('/v1/test/admin', { config: { role: 'admin' } }, async () => ({ ok: true }));
    await ids.app.ready();
  });
  afterAll(() => ids.close());

  it('POST declared read - a read key may call it', async () => {
    const res = await ids.app.inject({
      method: 'POST',
      url: '/v1/test/search',
      headers: ids.headers('a', 'read'),
    });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('GET declared admin - write key 403, admin key 200', async () => {
    expectProblem(
      await ids.app.inject({ method: 'GET', url: '/v1/test/admin', headers: ids.headers('b', 'write') }),
      403,
      'INSUFFICIENT_ROLE',
    );
    const res = await ids.app.inject({
      method: 'GET',
      url: '/v1/test/admin',
      headers: ids.headers('b', 'admin'),
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('without API keys', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(() => app.close());

  it('no keys - /v1 answers without Authorization, in the tenant "default"; a bearer header changes nothing', async () => {
    const body = { task_type: 'testing', task_description: 'open mode', context: { domain: 'auth' } };
    for (const headers of [{}, { authorization: 'Bearer whatever-token-at-all' }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/episodes', payload: body, headers });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().tenant).toBe('default');
    }
  });
});

describe('METRICS_TOKEN', () => {
  const TOKEN = 'metrics-token-0123456789abcdef';
  let ids: IdentityApp;
  beforeAll(async () => {
    ids = await buildIdentityApp({ METRICS_TOKEN: TOKEN });
  });
  afterAll(() => ids.close());

  it('/metrics with a token configured - none 401, wrong one or an API key 401, the token 200', async () => {
    expectProblem(await ids.app.inject({ method: 'GET', url: '/metrics' }), 401, 'AUTHENTICATION_REQUIRED');
    for (const wrong of [`${TOKEN}x`, TOKEN.slice(1), ids.identities[2]?.key]) {
      const res = await ids.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${wrong}` },
      });
      expectProblem(res, 401, 'INVALID_API_KEY');
    }
    const res = await ids.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('engram_build_info');
  });

  it('health with a metrics token configured - still open', async () => {
    expect((await ids.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});

describe('keys are never logged', () => {
  it('requests with good, bad and malformed keys at LOG_LEVEL=trace - no log line contains key text', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger(loadConfig({ LOG_LEVEL: 'trace' }), sink);
    const good = 'good-key-0123456789-abcdefghij';
    const readOnly = 'read-key-0123456789-abcdefghij';
    const bad = 'bad-key-9876543210-zyxwvutsrq';
    const app = await buildTestApp(
      { LOG_LEVEL: 'trace', ENGRAM_API_KEYS: `${good}:acme:write,${readOnly}:acme:read` },
      { logger },
    );
    try {
      const episode = { task_type: 'debugging', task_description: 'log me not', context: { domain: 'logs' } };
      const requests = [
        {
          method: 'POST',
          url: '/v1/episodes',
          payload: episode,
          headers: { authorization: `Bearer ${good}` },
        },
        { method: 'GET', url: '/v1/episodes', headers: { authorization: `Bearer ${good}` } },
        {
          method: 'POST',
          url: '/v1/episodes',
          payload: episode,
          headers: { authorization: `Bearer ${readOnly}` },
        },
        { method: 'GET', url: '/v1/episodes', headers: { authorization: `Bearer ${bad}` } },
        { method: 'GET', url: '/v1/episodes', headers: { authorization: `Basic ${bad}` } },
        { method: 'GET', url: `/v1/episodes?api_key=${bad}`, headers: { authorization: `Bearer ${good}` } },
        { method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${good}` } },
      ] as const;
      const statuses = [];
      for (const request of requests) statuses.push((await app.inject(request)).statusCode);
      expect(statuses).toEqual([201, 200, 403, 401, 401, 400, 200]);
      app.log.info(
        { request: { headers: { authorization: `Bearer ${good}` } } },
        'a careless log of headers',
      );
    } finally {
      await app.close();
    }
    expect(lines.length).toBeGreaterThan(7);
    expect(lines.join('\n')).toContain('[redacted]');
    for (const line of lines) {
      for (const secret of [good, readOnly, bad]) expect(line).not.toContain(secret);
    }
  });
});

describe('rate limit per key (RATE_LIMIT_PER_MINUTE)', () => {
  let ids: IdentityApp;
  beforeAll(async () => {
    ids = await buildIdentityApp({ RATE_LIMIT_PER_MINUTE: 3 });
  });
  afterAll(() => ids.close());

  it('a key over its limit - 429 problem+json with Retry-After; another key of the same tenant is not affected', async () => {
    const get = (headers: Record<string, string>) =>
      ids.app.inject({ method: 'GET', url: '/v1/episodes', headers });
    for (let i = 0; i < 3; i++) expect((await get(ids.headers('a', 'read'))).statusCode).toBe(200);
    const limited = await get(ids.headers('a', 'read'));
    expectProblem(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect((await get(ids.headers('a', 'write'))).statusCode).toBe(200);
    expect((await get(ids.headers('b', 'read'))).statusCode).toBe(200);
  });

  it('operations endpoints - never limited', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await ids.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    }
  });
});

describe('rate limit without keys', () => {
  it('anonymous callers - limited by client address', async () => {
    const app = await buildTestApp({ RATE_LIMIT_PER_MINUTE: 2 });
    try {
      const from = (remoteAddress: string) =>
        app.inject({ method: 'GET', url: '/v1/episodes', remoteAddress });
      expect((await from('10.0.0.1')).statusCode).toBe(200);
      expect((await from('10.0.0.1')).statusCode).toBe(200);
      expectProblem(await from('10.0.0.1'), 429, 'RATE_LIMITED');
      expect((await from('10.0.0.2')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('response headers', () => {
  let ids: IdentityApp;
  beforeAll(async () => {
    ids = await buildIdentityApp();
  });
  afterAll(() => ids.close());

  it.each([
    ['a /v1 read', '/v1/episodes', 200],
    ['a /v1 problem', `/v1/episodes/${SOME_ID}`, 404],
    ['an unknown route', '/nowhere', 404],
    ['a health probe', '/health/live', 200],
  ])('%s - API security headers, nothing that names the software', async (_, url, status) => {
    const res = await ids.app.inject({ method: 'GET', url, headers: ids.headers('a', 'read') });
    expect(res.statusCode).toBe(status);
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin',
    });
    for (const leak of ['x-powered-by', 'server', 'x-aspnet-version', 'via'])
      expect(res.headers[leak]).toBeUndefined();
  });

  it('/docs - Swagger UI still loads: its page and script answer, with a policy that allows its own files', async () => {
    const page = await ids.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const policy = String(page.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("style-src 'self'");
    expect(policy).not.toContain('upgrade-insecure-requests');
    const scripts = [...page.body.matchAll(/<script src="\.\/([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      const res = await ids.app.inject({ method: 'GET', url: `/docs/${script}` });
      expect(res.statusCode, script).toBe(200);
    }
  });
});

describe('identities over a real listening server (the helper other tiers plug into)', () => {
  let ids: IdentityApp;
  beforeAll(async () => {
    ids = await buildIdentityApp({}, { listen: true });
  });
  afterAll(() => ids.close());

  it('six identities over HTTP - each writes as its tenant, reads only its tenant, read keys cannot write', async () => {
    expect(ids.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ids.identities).toHaveLength(6);
    const body = JSON.stringify({
      task_type: 'testing',
      task_description: 'over http',
      context: { domain: 'ids' },
    });
    for (const identity of ids.identities) {
      const headers = { ...ids.headers(identity.slot, identity.role), 'content-type': 'application/json' };
      const created = await fetch(`${ids.url}/v1/episodes`, { method: 'POST', headers, body });
      expect(created.status, `${identity.tenant}/${identity.role}`).toBe(
        identity.role === 'read' ? 403 : 201,
      );
      const list = await fetch(`${ids.url}/v1/episodes?limit=1000`, { headers });
      const items = ((await list.json()) as { items: { tenant: string }[] }).items;
      if (identity.role !== 'read') expect(items.length).toBeGreaterThan(0);
      for (const item of items) expect(item.tenant).toBe(identity.tenant);
    }
    expect((await fetch(`${ids.url}/v1/episodes`)).status).toBe(401);
  });
});
