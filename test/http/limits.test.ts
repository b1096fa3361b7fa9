import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/domain/limits.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  type ApiDocument,
  apiDocument,
  fillPath,
  type Operation,
  operationsOf,
  requiredQuery,
} from '../helpers/openapi-walk.js';

// SPEC §6 resource limits: a depth bomb is refused at its 33rd bracket, before any parsing; `limit` caps and
// repeatable-filter caps hold on every operation of the OpenAPI document that has them.

const EPISODE = { task_type: 'debugging', task_description: 'limits', context: { domain: 'limits' } };

describe('resource limits', () => {
  let app: TestApp;
  let doc: ApiDocument;
  let ops: Operation[];
  let episodeId: string;
  beforeAll(async () => {
    app = await buildTestApp();
    doc = await apiDocument(app);
    ops = operationsOf(doc);
    const created = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      payload: { ...EPISODE, steps: [{ tool: 't', action: 'a' }] },
    });
    episodeId = created.json().id;
  });
  afterAll(() => app.close());

  const post = (payload: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/episodes',
      headers: { 'content-type': 'application/json' },
      payload,
    });

  it('depth bomb - judged before parsing: 33 brackets then garbage is a nesting 400, not malformed JSON', async () => {
    const res = await post(`${'['.repeat(MAX_JSON_DEPTH + 1)} this is not JSON`);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    // The pointer names the array that opens the 33rd level.
    expect(res.json().errors).toEqual([
      {
        in: 'body',
        path: '/0'.repeat(MAX_JSON_DEPTH),
        message: `JSON nesting is deeper than ${MAX_JSON_DEPTH} levels`,
      },
    ]);
    // 32 brackets and garbage: within the depth, so the parser judges it.
    expect((await post(`${'['.repeat(MAX_JSON_DEPTH)} this is not JSON`)).json().code).toBe('MALFORMED_JSON');
  });

  it('depth bomb - as large as the body limit allows (5.5 million levels) - 400, and the service goes on', async () => {
    const levels = Math.floor(app.testConfig.HTTP_BODY_LIMIT_BYTES / 2);
    const started = performance.now();
    const res = await post(`${'['.repeat(levels)}${']'.repeat(levels)}`);
    console.log(
      `[limits] ${levels.toLocaleString()}-level depth bomb refused in ${Math.round(performance.now() - started)} ms`,
    );
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].message).toContain('nesting');
    const next = await app.inject({ method: 'POST', url: '/v1/episodes', payload: EPISODE });
    expect(next.statusCode).toBe(201);
  });

  it('every operation with a `limit` - its maximum answers, one more and 0 are a 400 naming query /limit', async () => {
    const limited = ops.filter((op) => op.query.some((q) => q.name === 'limit'));
    expect(limited.length).toBeGreaterThanOrEqual(3);
    for (const op of limited) {
      const schema = op.query.find((q) => q.name === 'limit')?.schema ?? {};
      expect(schema.maximum, `${op.path} documents its cap`).toBeGreaterThan(0);
      // The operation's required parameters (the suggestions' `kind`) at a valid value, then the limit.
      const required = new URLSearchParams(requiredQuery(op, doc)).toString();
      const url = `${fillPath(op.path, { id: episodeId })}?${required ? `${required}&` : ''}`;
      const at = await app.inject({ method: 'GET', url: `${url}limit=${schema.maximum}` });
      expect(at.statusCode, `${url} limit=${schema.maximum}: ${at.body}`).toBe(200);
      for (const bad of [String((schema.maximum ?? 0) + 1), '0', '-1', '1e9', '10.5', 'all']) {
        const res = await app.inject({ method: 'GET', url: `${url}limit=${bad}` });
        expect(res.statusCode, `${url} limit=${bad}`).toBe(400);
        expect(res.json().errors, `${url} limit=${bad}`).toContainEqual(
          expect.objectContaining({ in: 'query', path: '/limit' }),
        );
      }
    }
  });

  it('every repeatable filter - one value over its maxItems - a 400 naming it', async () => {
    const repeatable = ops.flatMap((op) =>
      op.query.filter((q) => q.schema?.type === 'array').map((q) => ({ op, q })),
    );
    expect(repeatable.length).toBeGreaterThan(0);
    for (const { op, q } of repeatable) {
      const items = (q.schema as { items?: { enum?: string[] }; maxItems?: number }) ?? {};
      const value = items.items?.enum?.[0] ?? 'xx';
      const max = items.maxItems ?? 0;
      expect(max, `${op.path} ${q.name} documents its cap`).toBeGreaterThan(0);
      const query = (n: number) => Array.from({ length: n }, () => `${q.name}=${value}`).join('&');
      const url = fillPath(op.path, { id: episodeId });
      expect((await app.inject({ method: 'GET', url: `${url}?${query(max)}` })).statusCode).toBe(200);
      const over = await app.inject({ method: 'GET', url: `${url}?${query(max + 1)}` });
      expect(over.statusCode, `${q.name} × ${max + 1}`).toBe(400);
      expect(over.json().errors[0]).toMatchObject({
        in: 'query',
        path: expect.stringContaining(`/${q.name}`),
      });
    }
  });
});
