import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_PATH, renderOpenApi } from '../../scripts/generate-openapi.js';

// SPEC §4: openapi/openapi.json is generated from the route schemas, committed, and checked for drift.

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

// The little of OpenAPI 3.1 these checks read.
interface Schema {
  $ref?: string;
  required?: string[];
}
interface Response {
  content?: Record<string, { schema?: Schema }>;
}
interface Operation {
  requestBody?: unknown;
  responses?: Record<string, Response>;
  security?: Record<string, string[]>[];
}
interface Document {
  openapi: string;
  paths?: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components?: { schemas?: Record<string, Schema>; securitySchemes?: Record<string, unknown> };
}

let generated: string;
let doc: Document;

beforeAll(async () => {
  generated = await renderOpenApi();
  doc = JSON.parse(generated) as Document;
});

function operations(): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.flatMap((method) => {
      const op = item?.[method];
      return op ? [{ method: method.toUpperCase(), path, op }] : [];
    }),
  );
}

describe('openapi/openapi.json', () => {
  it('openapi.json - regenerated from the routes - identical to the committed file', () => {
    const committed = readFileSync(OPENAPI_PATH, 'utf8');
    // toBe on 400 kB strings prints a useless diff; say what to do instead.
    expect(
      committed === generated,
      'openapi/openapi.json is stale: run `npm run openapi` and commit the result',
    ).toBe(true);
  });

  it('openapi.json - whole document - valid per @readme/openapi-parser', async () => {
    const result = await validate(structuredClone(doc) as Parameters<typeof validate>[0]);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('openapi.json - version - OpenAPI 3.1.0', () => {
    expect(doc.openapi).toBe('3.1.0');
  });

  it('openapi.json - operations endpoints - hidden (/health, /metrics, /docs, /openapi.json)', () => {
    const paths = Object.keys(doc.paths ?? {});
    for (const hidden of ['/health', '/health/live', '/health/ready', '/metrics', '/openapi.json']) {
      expect(paths).not.toContain(hidden);
    }
    expect(paths.filter((p) => p.startsWith('/docs'))).toEqual([]);
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) expect(path).toMatch(/^\/v1\//);
  });

  it('openapi.json - every /v1 operation - documents 400 and 503 as problem+json', () => {
    const missing = operations().flatMap(({ method, path, op }) =>
      ['400', '503'].flatMap((status) => {
        const response = op.responses?.[status];
        return response?.content?.['application/problem+json'] ? [] : [`${method} ${path} ${status}`];
      }),
    );
    expect(missing, 'operations without their problem responses').toEqual([]);
  });

  it('openapi.json - bearer scheme - declared, and required by every /v1 operation', () => {
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const ops = operations();
    expect(ops.length).toBeGreaterThan(0);
    const missing = ops
      .filter(({ op }) => JSON.stringify(op.security) !== JSON.stringify([{ bearerAuth: [] }]))
      .map(({ method, path }) => `${method} ${path}`);
    expect(missing, 'operations without security: [{ bearerAuth: [] }]').toEqual([]);
  });

  it('openapi.json - every /v1 operation - documents 401, 403 and 429 as problem+json', () => {
    const missing = operations().flatMap(({ method, path, op }) =>
      ['401', '403', '429'].flatMap((status) =>
        op.responses?.[status]?.content?.['application/problem+json'] ? [] : [`${method} ${path} ${status}`],
      ),
    );
    expect(missing).toEqual([]);
  });

  it('openapi.json - operations with a path id - document 404; with a body - 413 and 415', () => {
    const missing = operations().flatMap(({ method, path, op }) => {
      const expected = [...(path.includes('{') ? ['404'] : []), ...(op.requestBody ? ['413', '415'] : [])];
      return expected.flatMap((status) => (op.responses?.[status] ? [] : [`${method} ${path} ${status}`]));
    });
    expect(missing).toEqual([]);
  });

  it('openapi.json - every 4xx/5xx response - is application/problem+json with the Problem fields', () => {
    const problems = operations().flatMap(({ method, path, op }) =>
      Object.entries(op.responses ?? {})
        .filter(([status]) => /^[45]/.test(status))
        .map(([status, response]) => ({ where: `${method} ${path} ${status}`, response })),
    );
    expect(problems.length).toBeGreaterThan(0);
    for (const { where, response } of problems) {
      expect(Object.keys(response.content ?? {}), where).toEqual(['application/problem+json']);
      const schema = response.content?.['application/problem+json']?.schema;
      const resolved = schema?.$ref
        ? doc.components?.schemas?.[schema.$ref.replace('#/components/schemas/', '')]
        : schema;
      expect(resolved?.required, where).toEqual(
        expect.arrayContaining(['type', 'title', 'status', 'detail', 'instance', 'code', 'request_id']),
      );
    }
  });
});
