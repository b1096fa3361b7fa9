import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Problem } from '../../src/http/problem-schema.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// SPEC §2 and §6, RELIABILITY promises 4 and 6: every error is an RFC 9457 problem+json naming what went
// wrong, bad input never reaches a 5xx, a 5xx never shows internals, an unavailable database is a fast 503.

const EPISODE = {
  task_type: 'debugging',
  task_description: 'fix the flaky test',
  context: { domain: 'web-api' },
};
const UNKNOWN_ID = '01936f3e-1c2a-7b3c-8d4e-5f6a7b8c9d0e';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Asserts the RFC 9457 shape of SPEC §2 and returns the body. */
function expectProblem(res: LightMyRequestResponse, status: number, code?: string): Problem {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as Problem;
  expect(body).toMatchObject({
    type: expect.stringMatching(/^urn:engram:problem:[a-z0-9-]+$/),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: expect.stringMatching(/^\//),
    code: expect.stringMatching(/^[A-Z][A-Z0-9_]+$/),
    request_id: res.headers['x-request-id'],
  });
  expect(body.title.length).toBeGreaterThan(0);
  if (code) expect(body.code).toBe(code);
  return body;
}

/** A 5xx says nothing about the inside: no driver message, no SQL, no stack. */
function expectNoInternals(res: LightMyRequestResponse, ...secrets: string[]): void {
  for (const leak of [...secrets, 'SQLITE', 'stack', '    at ', '.ts:', 'node_modules']) {
    expect(res.body).not.toContain(leak);
  }
}

/** `depth` nested objects: {"a":{"a":...{}}}; `nested(1)` is `{}`. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

describe('problem+json for bad requests', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(() => app.close());

  it('validation - missing required body field - 400 naming in=body and its JSON pointer', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      payload: { ...EPISODE, context: {} },
    });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.instance).toBe('/v1/episodes');
    expect(body.errors).toContainEqual({ in: 'body', path: '/context/domain', message: expect.any(String) });
  });

  it('validation - several bad body fields - every one listed', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      payload: { ...EPISODE, task_type: 'juggling', task_description: '' },
    });
    const paths = expectProblem(res, 400).errors?.map((e) => `${e.in}:${e.path}`);
    expect(paths).toEqual(expect.arrayContaining(['body:/task_type', 'body:/task_description']));
  });

  it('validation - unknown body field - 400 whose error names the field', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      payload: { ...EPISODE, taks_type: 'typo' },
    });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({ in: 'body', path: '/' });
    expect(body.errors?.[0]?.message).toContain('taks_type');
  });

  it('validation - unknown field in a nested object - 400 pointing at that object', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      payload: { ...EPISODE, context: { domain: 'web', framwork: 'x' } },
    });
    const error = expectProblem(res, 400).errors?.[0];
    expect(error).toMatchObject({ in: 'body', path: '/context' });
    expect(error?.message).toContain('framwork');
  });

  it('validation - bad query parameter - 400 naming in=query and the parameter', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/episodes?limit=abc' });
    expect(expectProblem(res, 400, 'VALIDATION_FAILED').errors).toContainEqual({
      in: 'query',
      path: '/limit',
      message: expect.any(String),
    });
  });

  it('validation - unknown query parameter - 400 naming it', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/episodes?limt=5' });
    expect(expectProblem(res, 400).errors).toContainEqual({
      in: 'query',
      path: '/limt',
      message: expect.any(String),
    });
  });

  it('validation - bad path parameter - 400 naming in=params', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/episodes/not-a-uuid' });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.errors).toEqual([{ in: 'params', path: '/id', message: expect.any(String) }]);
    expect(body.instance).toBe('/v1/episodes/not-a-uuid');
  });

  it.each([
    ['idempotency-key', 'POST', '/v1/episodes', { 'idempotency-key': 'spaces are not allowed' }],
    ['if-none-match', 'GET', `/v1/episodes/${UNKNOWN_ID}`, { 'if-none-match': 'not-an-etag' }],
    ['if-match', 'PATCH', `/v1/episodes/${UNKNOWN_ID}`, { 'if-match': 'not-an-etag' }],
  ] as const)(
    'validation - malformed %s header - 400 naming in=headers',
    async (name, method, url, headers) => {
      const res = await app.inject({
        method,
        url,
        headers,
        payload: method === 'GET' ? undefined : method === 'POST' ? EPISODE : {},
      });
      expect(expectProblem(res, 400).errors).toContainEqual({
        in: 'headers',
        path: `/${name}`,
        message: expect.any(String),
      });
    },
  );

  it('routing - unknown route - 404 ROUTE_NOT_FOUND', async () => {
    for (const url of ['/v1/nothing-here', '/nothing', '/v2/episodes']) {
      const body = expectProblem(await app.inject({ method: 'GET', url }), 404, 'ROUTE_NOT_FOUND');
      expect(body.instance).toBe(url);
    }
  });

  it('routing - unknown record - 404 with the resource code', async () => {
    expectProblem(
      await app.inject({ method: 'GET', url: `/v1/episodes/${UNKNOWN_ID}` }),
      404,
      'EPISODE_NOT_FOUND',
    );
  });

  it('routing - known path, wrong method - 405 with an Allow header listing the methods', async () => {
    const collection = await app.inject({ method: 'PUT', url: '/v1/episodes' });
    expectProblem(collection, 405, 'METHOD_NOT_ALLOWED');
    expect(String(collection.headers.allow).split(/,\s*/)).toEqual(expect.arrayContaining(['GET', 'POST']));

    const item = await app.inject({ method: 'PUT', url: `/v1/episodes/${UNKNOWN_ID}` });
    expectProblem(item, 405, 'METHOD_NOT_ALLOWED');
    const allowed = String(item.headers.allow).split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['GET', 'PATCH', 'DELETE']));
    expect(allowed).not.toContain('PUT');
  });

  it('body limit - one byte over HTTP_BODY_LIMIT_BYTES - 413; exactly at the limit - accepted', async () => {
    const small = await buildTestApp({ HTTP_BODY_LIMIT_BYTES: 4096 });
    const sized = (bytes: number) => {
      const base = JSON.stringify({ ...EPISODE, task_description: '' });
      return JSON.stringify({ ...EPISODE, task_description: 'x'.repeat(bytes - base.length) });
    };
    const headers = { 'content-type': 'application/json' };
    try {
      const atLimit = await small.inject({
        method: 'POST',
        url: '/v1/episodes',
        headers,
        payload: sized(4096),
      });
      expect(atLimit.statusCode, atLimit.body).toBe(201);
      const over = await small.inject({ method: 'POST', url: '/v1/episodes', headers, payload: sized(4097) });
      expectProblem(over, 413, 'PAYLOAD_TOO_LARGE');
    } finally {
      await small.close();
    }
  });

  it.each(['text/plain', 'application/xml', 'application/x-www-form-urlencoded'])(
    'media type - %s body to a JSON route - 415',
    async (type) => {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/episodes',
        headers: { 'content-type': type },
        payload: 'task_type=debugging',
      });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    },
  );

  it.each([
    ['truncated', '{"task_type": "debugging", '],
    ['not JSON at all', "{task_type: 'debugging'}"],
    ['empty', ''],
  ])('JSON - %s body - 400 MALFORMED_JSON', async (_name, payload) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expectProblem(res, 400, 'MALFORMED_JSON');
  });

  it('JSON - nested 33 levels deep - 400 naming the nesting; 32 levels - accepted', async () => {
    // body (1) > steps array (2) > step (3) > parameters (4..): parameters of depth d make a body of depth d + 3.
    const withParameters = (depth: number) => ({
      ...EPISODE,
      steps: [{ tool: 't', action: 'a', parameters: nested(depth) }],
    });
    const deep = await app.inject({ method: 'POST', url: '/v1/episodes', payload: withParameters(30) });
    const body = expectProblem(deep, 400);
    expect(body.errors?.[0]).toMatchObject({ in: 'body', message: expect.stringContaining('nesting') });
    const limit = await app.inject({ method: 'POST', url: '/v1/episodes', payload: withParameters(29) });
    expect(limit.statusCode, limit.body).toBe(201);
  });

  it('JSON - 100,000 levels of nesting - 400 naming the nesting, no stack overflow', async () => {
    const payload = `{"steps":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(expectProblem(res, 400).errors?.[0]?.message).toContain('nesting');
  });

  it.each([
    ['__proto__', '{"__proto__": {"polluted": true}, "task_type": "debugging"}'],
    ['nested __proto__', '{"context": {"__proto__": {"polluted": true}}}'],
    ['constructor.prototype', '{"constructor": {"prototype": {"polluted": true}}}'],
  ])('JSON - %s key - 400, and nothing is polluted', async (_name, payload) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expectProblem(res, 400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('request ids', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(() => app.close());

  it('x-request-id - sane value given - echoed on the response and in a problem', async () => {
    const id = 'client-req.42:abc_DEF/1+2=3@x';
    const ok = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': id } });
    expect(ok.headers['x-request-id']).toBe(id);
    const problem = await app.inject({ method: 'GET', url: '/v1/nope', headers: { 'x-request-id': id } });
    expect(problem.headers['x-request-id']).toBe(id);
    expect(problem.json().request_id).toBe(id);
  });

  it('x-request-id - absent - a fresh UUID per response', async () => {
    const a = await app.inject({ method: 'GET', url: '/health/live' });
    const b = await app.inject({ method: 'GET', url: '/health/live' });
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it.each([
    ['500 characters', 'x'.repeat(500)],
    ['spaces', 'has spaces in it'],
    ['control and quote characters', 'abc"<script>'],
    ['empty', ''],
  ])('x-request-id - insane value (%s) - replaced by a generated UUID', async (_name, given) => {
    const res = await app.inject({ method: 'GET', url: '/v1/nope', headers: { 'x-request-id': given } });
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(res.json().request_id).toBe(res.headers['x-request-id']);
  });
});

describe('database failures seen over HTTP', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('500 - the database raises an SQL error - generic problem without the internal message or a stack', async () => {
    app = await buildTestApp({}, { faults: true });
    const created = await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(created.statusCode).toBe(201);
    app.faults.fault = () => {
      throw Object.assign(new Error('no such table: secret_internal_table'), { code: 'SQLITE_ERROR' });
    };
    for (const res of [
      await app.inject({ method: 'GET', url: `/v1/episodes/${created.json().id}` }),
      await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE }),
    ]) {
      const body = expectProblem(res, 500, 'INTERNAL_ERROR');
      expect(body.detail).toBe('An unexpected error occurred');
      expectNoInternals(res, 'secret_internal_table', 'no such table');
    }
  });

  it('503 - breaker open - fast DATABASE_UNAVAILABLE with Retry-After, the database is not called, ready is 503', async () => {
    app = await buildTestApp(
      {
        DB_RETRY_MAX_ATTEMPTS: 1,
        DB_BREAKER_FAILURE_THRESHOLD: 2,
        DB_BREAKER_INITIAL_TIMEOUT_MS: 60_000,
        DB_BREAKER_TIMEOUT_MS: 60_000,
      },
      { faults: true },
    );
    const faults = app.faults;
    faults.fault = () => {
      throw new TypeError('fetch failed: connect ECONNREFUSED 10.0.0.7:8080', {
        cause: { code: 'ECONNREFUSED' },
      });
    };
    const url = `/v1/episodes/${UNKNOWN_ID}`;
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ method: 'GET', url });
      expectProblem(res, 503, 'DATABASE_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(app.engram.db.policy.breakerSnapshot.state).toBe('open');

    const callsBefore = faults.calls;
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const res = await app.inject({
        method: i % 2 ? 'GET' : 'POST',
        url: i % 2 ? url : '/v1/episodes',
        payload: i % 2 ? undefined : EPISODE,
      });
      times.push(performance.now() - started);
      expectProblem(res, 503, 'DATABASE_UNAVAILABLE');
      expectNoInternals(res, 'ECONNREFUSED');
      const retryAfter = Number(res.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(50);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    expect(faults.calls).toBe(callsBefore);
    expect(times.sort((a, b) => a - b)[5]).toBeLessThan(20);

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['retry-after']).toBeDefined();
    expect(ready.json()).toEqual({ status: 'not_ready', reason: 'circuit breaker open' });
  });

  it('503 - pool busy and its queue full - SERVICE_OVERLOADED with Retry-After at once; the others complete', async () => {
    app = await buildTestApp({ DB_POOL_SIZE: 1, DB_POOL_QUEUE: 1, DB_TIMEOUT_MS: 10_000 }, { faults: true });
    const policy = app.engram.db.policy;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.faults.fault = () => held;
    const url = `/v1/episodes/${UNKNOWN_ID}`;
    const first = app.inject({ method: 'GET', url });
    await vi.waitFor(() => expect(policy.poolSnapshot.in_use).toBe(1), { timeout: 2_000, interval: 2 });
    const second = app.inject({ method: 'GET', url });
    await vi.waitFor(() => expect(policy.poolSnapshot.queued).toBe(1), { timeout: 2_000, interval: 2 });

    const started = performance.now();
    const third = await app.inject({ method: 'GET', url });
    // At once: the two ahead of it are held indefinitely, so any waiting would never end.
    expect(performance.now() - started).toBeLessThan(500);
    expectProblem(third, 503, 'SERVICE_OVERLOADED');
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    release();
    expect((await first).statusCode).toBe(404);
    expect((await second).statusCode).toBe(404);
    expect(policy.breakerSnapshot.state).toBe('closed');
  });

  it('503 - embedded writer stalls (a write never completes) - WRITE_OUTCOME_UNKNOWN within DB_TIMEOUT_MS, not a hang', async () => {
    // Embedded writes run on a writer thread, so they can hang like a remote call (a stalled fsync, a lock).
    app = await buildTestApp({ DB_TIMEOUT_MS: 300, DB_RETRY_MAX_ATTEMPTS: 1 }, { faults: true });
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.faults.fault = ({ op }) => (op === 'query' ? undefined : stalled);
    try {
      const started = performance.now();
      const res = await Promise.race([
        app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE }),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3_000)),
      ]);
      expect(res, 'no answer after 3 s: the write has no deadline').toBeDefined();
      // The write reached the writer and may still commit: never an answer that says it failed.
      expectProblem(res as LightMyRequestResponse, 503, 'WRITE_OUTCOME_UNKNOWN');
      expect((res as LightMyRequestResponse).headers['retry-after']).toBe('1');
      expect(performance.now() - started).toBeLessThan(300 + 500);
    } finally {
      release(); // lets the stalled write finish so that close() can flush and return
    }
  });

  it('DB_POOL_QUEUE=0 - no waiting room - the app starts and serves writes one at a time', async () => {
    // The schema allows 0 ("operations waiting for the pool before 503"): no queue, not "no writes".
    app = await buildTestApp({ DB_POOL_QUEUE: 0 });
    const res = await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(res.statusCode, res.body).toBe(201);
  });
});
