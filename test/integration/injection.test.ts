import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseTags } from '../../src/domain/common.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS } from '../helpers/backends.js';
import {
  type ApiDocument,
  apiDocument,
  fillPath,
  type JsonSchema,
  matchPath,
  minimalValue,
  type Operation,
  operationsOf,
} from '../helpers/openapi-walk.js';

// SPEC §6 "parameterised SQL only; JSON paths and identifiers are never built from user input", issue 9
// item 4: SQL, JSON-path and FTS5 injection strings in every string field and every map-key position of
// every create operation of the OpenAPI document, and in every string query and path parameter. Each is
// stored verbatim and read back unchanged, or refused with a 400 naming the field; never a 5xx, never
// executed (the schema and the row counts are the same afterwards). On the embedded file and a real sqld.

const CORPUS = [
  "' OR '1'='1",
  "'; DROP TABLE episodes; --",
  '"; DROP TABLE steps; --',
  '1) OR (1=1',
  "x' UNION SELECT key, fingerprint, body FROM idempotency_keys --",
  "'||(SELECT tenant FROM episodes LIMIT 1)||'",
  "'; ATTACH DATABASE '/tmp/engram-injected.db' AS x; --",
  '?1',
  ':tenant',
  '%',
  '_',
  '\\',
  "''",
  '$',
  '$.metadata',
  "$.a') OR json_extract(body, '$.tenant') IS NOT NULL OR ('",
  '$[0]',
  '$..*',
  '*',
  '"a" OR "b"',
  'NEAR(a b)',
  'task_description: x',
  '-term ^start',
  'x\u0000y',
  '__proto__',
  'constructor',
  'a.b',
  '</script><script>alert(1)</script>',
];

/** Where a string goes in a request body: `base` with `pointer` replaced (a value) or renamed (a key). */
interface Site {
  base: unknown;
  pointer: (string | number)[];
  kind: 'value' | 'key';
}

const KEY_SLOT = 'k';

function resolve(schema: JsonSchema, doc: ApiDocument): JsonSchema {
  if (!schema.$ref) return schema;
  return doc.components?.schemas?.[schema.$ref.replace('#/components/schemas/', '')] ?? {};
}

/**
 * Every string value and map key of `schema` (each alternative of a union on its own). An object schema met
 * before (`seen`: the episode inside a batch, the step inside an episode) gives only its first site: its
 * strings were all tried where it was met first, and one proves that the container passes them through.
 */
function sitesOf(raw: JsonSchema, doc: ApiDocument, seen: Set<string>): Site[] {
  const schema = resolve(raw, doc) as JsonSchema & { additionalProperties?: JsonSchema | boolean };
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return alternatives.flatMap((alt) => sitesOf(alt, doc, seen));
  const type = [schema.type ?? (schema.properties ? 'object' : 'string')].flat().find((t) => t !== 'null');
  if (schema.enum || schema.const !== undefined) return [];
  if (type === 'object') {
    const { description: _, ...shape } = schema as JsonSchema & { description?: string };
    const identity = JSON.stringify(shape);
    const metBefore = seen.has(identity);
    seen.add(identity);
    const base = minimalValue(schema, doc) as Record<string, unknown>;
    const sites = Object.entries(schema.properties ?? {}).flatMap(([name, prop]) =>
      sitesOf(prop, doc, seen).map((s) => ({
        ...s,
        base: { ...base, [name]: s.base },
        pointer: [name, ...s.pointer],
      })),
    );
    const extra = schema.additionalProperties;
    if (extra !== undefined && extra !== false) {
      const value = extra === true ? 'v' : minimalValue(extra, doc, 'v');
      sites.push({ base: { ...base, [KEY_SLOT]: value }, pointer: [KEY_SLOT], kind: 'key' });
    }
    return metBefore ? sites.slice(0, 1) : sites;
  }
  if (type === 'array') {
    return sitesOf(schema.items ?? {}, doc, seen).map((s) => ({
      ...s,
      base: [s.base],
      pointer: [0, ...s.pointer],
    }));
  }
  if (type === 'string' && schema.format === undefined)
    return [{ base: minimalValue(schema, doc), pointer: [], kind: 'value' }];
  return [];
}

/** `site.base` with the injection string put in place. */
function inject(site: Site, text: string): unknown {
  const body = structuredClone(site.base);
  if (site.pointer.length === 0) return text;
  const parentPath = site.pointer.slice(0, -1);
  const last = site.pointer[site.pointer.length - 1] as string | number;
  // biome-ignore lint/suspicious/noExplicitAny: walking a JSON value by pointer
  const parent = parentPath.reduce((node: any, step) => node[step], body);
  if (site.kind === 'value') parent[last] = text;
  else {
    const value = parent[last];
    delete parent[last];
    Object.defineProperty(parent, text, { value, enumerable: true, writable: true, configurable: true });
  }
  return body;
}

/** Whether `text` occurs in `value` as a whole string value or (for keys) as a key. */
function holds(value: unknown, text: string, kind: Site['kind']): boolean {
  if (typeof value === 'string') return kind === 'value' && value === text;
  if (Array.isArray(value)) return value.some((v) => holds(v, text, kind));
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => (kind === 'key' && k === text) || holds(v, text, kind));
  }
  return false;
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

/**
 * On sqld every request is a network round trip: each field gets every `SQLD_SHARE`-th string of the corpus,
 * rotating, so that every string still reaches every kind of statement and the run stays within its budget
 * on a loaded machine. The embedded file gets the whole product.
 */
const SQLD_SHARE = 4;

describe.each(BACKENDS)('injection corpus on $name', ({ name, build }) => {
  let app: TestApp;
  let doc: ApiDocument;
  let ops: Operation[];
  let schemaBefore: string;
  beforeAll(async () => {
    app = await build();
    doc = await apiDocument(app);
    ops = operationsOf(doc);
    schemaBefore = JSON.stringify(
      await app.engram.db.read('SELECT type, name FROM sqlite_master ORDER BY name'),
    );
  });
  afterAll(() => app.close());

  const send = (method: string, url: string, payload?: unknown): Promise<LightMyRequestResponse> =>
    app.inject({
      method: method as 'GET',
      url,
      ...(payload === undefined
        ? {}
        : { payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }),
    });

  function expectNo5xx(res: LightMyRequestResponse, where: string): void {
    expect(res.statusCode, `${where} → ${res.statusCode} ${res.body.slice(0, 300)}`).toBeLessThan(500);
  }

  function expectNamedRefusal(res: LightMyRequestResponse, site: Site, where: string): void {
    expect(res.statusCode, `${where}: ${res.body.slice(0, 300)}`).toBe(400);
    // A `__proto__` key is refused by the JSON body reader itself (prototype poisoning), which names it too.
    const errors = (res.json().errors ?? []) as { in: string; path: string }[];
    const pointer = `/${site.pointer.slice(0, site.kind === 'key' ? -1 : undefined).join('/')}`;
    const named = errors.some(
      (e) => e.in === 'body' && (pointer.startsWith(e.path) || e.path.startsWith(pointer)),
    );
    expect(named, `${where}: no error names ${pointer}: ${res.body.slice(0, 300)}`).toBe(true);
  }

  it('every string field and map key of every create operation - stored verbatim or a 400 naming it', async () => {
    const creates = ops.filter((op) => op.method === 'POST' && op.body && '201' in op.responses);
    // Path parameters of the creates that need a parent (steps of an episode) come from a first create.
    // Each resource's own: `{id}` of /v1/episodes/{id}/steps is an episode's, not the last record created.
    const known = new Map<string, Record<string, string>>();
    for (const op of creates.filter((o) => o.pathParams.length === 0)) {
      const res = await send('POST', op.path, minimalValue(op.body ?? {}, doc));
      expect(res.statusCode, res.body).toBe(201);
      for (const template of Object.keys(doc.paths)) {
        const params = matchPath(template, String(res.headers.location ?? ''));
        if (params) known.set(template, params);
      }
    }
    const paramsOf = (path: string) =>
      [...known].find(([template]) => template.includes('{') && path.startsWith(`${template}/`))?.[1] ?? {};
    let stored = 0;
    let refused = 0;
    const seen = new Set<string>();
    for (const op of creates) {
      const url = fillPath(op.path, paramsOf(op.path));
      const sites = sitesOf(op.body ?? {}, doc, seen);
      expect(sites.length, `${op.path} has string fields`).toBeGreaterThan(0);
      const share = name === 'sqld' ? SQLD_SHARE : 1;
      const cases = sites.flatMap((site, i) =>
        CORPUS.filter((_, j) => (i + j) % share === 0).map((text) => ({ site, text })),
      );
      await inBatches(cases, 8, async ({ site, text }) => {
        const where = `POST ${op.path} ${site.kind} /${site.pointer.join('/')} = ${JSON.stringify(text)}`;
        const res = await send('POST', url, inject(site, text));
        expectNo5xx(res, where);
        if (res.statusCode !== 201) {
          expectNamedRefusal(res, site, where);
          refused++;
          return;
        }
        stored++;
        if (site.pointer.includes('embedding')) return; // vectors are not returned by the episode reads
        const location = locationOf(op, res);
        const readable = ops.find((o) => o.method === 'GET' && matchPath(o.path, location));
        const withSteps = readable?.query.some((q) => q.name === 'include') ? '?include=steps' : '';
        const read = await send('GET', `${location}${withSteps}`);
        expect(read.statusCode, where).toBe(200);
        const expected = site.pointer[0] === 'tags' ? (normaliseTags([text])[0] ?? text) : text;
        expect(
          holds(read.json(), expected, site.kind),
          `${where}: read back ${read.body.slice(0, 300)}`,
        ).toBe(true);
      });
    }
    console.log(`[injection] ${stored} stored verbatim, ${refused} refused with a 400`);
    expect(stored).toBeGreaterThan(0);
  });

  it('every string query parameter and path parameter of every operation - a 2xx or 4xx, never a 5xx', async () => {
    const cases = ops.flatMap((op) => {
      const queries = op.query
        .filter((q) => !q.schema?.enum)
        .flatMap((q) =>
          CORPUS.map(
            (text) => `${fillPath(op.path, placeholders(op))}?${q.name}=${encodeURIComponent(text)}`,
          ),
        );
      const paths = op.pathParams.flatMap((name) =>
        CORPUS.map((text) => fillPath(op.path, { ...placeholders(op), [name]: text })),
      );
      const metadataKeys =
        op.method === 'GET' && op.path === '/v1/episodes'
          ? CORPUS.map((text) => `/v1/episodes?metadata.${encodeURIComponent(text)}=v`)
          : [];
      return [...queries, ...paths, ...metadataKeys].map((url) => ({ op, url }));
    });
    expect(cases.length).toBeGreaterThan(100);
    await inBatches(cases, 8, async ({ op, url }) => {
      const res = await send(op.method, url, op.body ? minimalValue(op.body, doc) : undefined);
      expectNo5xx(res, `${op.method} ${url}`);
    });
  });

  it('filters and full-text search with injection text - match literally, never widen the result', async () => {
    const created = await send('POST', '/v1/episodes', {
      task_type: 'analysis',
      task_description: 'alpha beta gamma',
      context: { domain: 'literal-domain' },
      metadata: { probe: 'literal' },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const finds = async (query: string) =>
      (await send('GET', `/v1/episodes?${query}&limit=1000`)).body.includes(id);
    // Controls: the plain filters find it.
    expect(await finds('q=alpha')).toBe(true);
    expect(await finds('domain=literal-domain')).toBe(true);
    expect(await finds('metadata.probe=literal')).toBe(true);
    for (const widening of [
      `q=${encodeURIComponent('zzz OR alpha')}`,
      `q=${encodeURIComponent('alpha NOT beta')}`,
      `q=${encodeURIComponent('NEAR(alpha gamma)')}`,
      `q=${encodeURIComponent('text: alpha')}`,
      `domain=${encodeURIComponent("' OR '1'='1")}`,
      `domain=${encodeURIComponent("literal-domain' OR 'x'='x")}`,
      `metadata.probe=${encodeURIComponent("x' OR '1'='1")}`,
      `agent_id=${encodeURIComponent("' OR agent_id IS NULL OR '")}`,
    ]) {
      expect(await finds(widening), widening).toBe(false);
    }
  });

  it('after the corpus - the schema is unchanged and no statement ran that the API did not ask for', async () => {
    const schemaAfter = JSON.stringify(
      await app.engram.db.read('SELECT type, name FROM sqlite_master ORDER BY name'),
    );
    expect(schemaAfter).toBe(schemaBefore);
    const [row] = await app.engram.db.read('PRAGMA database_list');
    expect(row?.name).toBe('main');
    expect((await app.engram.db.read('PRAGMA database_list')).map((r) => r.name)).not.toContain('x');
    const integrity = await app.engram.db.read('PRAGMA integrity_check');
    expect(integrity[0]?.integrity_check).toBe('ok');
  });
});

/**
 * Where the record a create made can be read: its Location, or for a batch create that answers `{ ids }`,
 * the first id under the collection the batch belongs to (`/v1/episodes/batch` → `/v1/episodes/<id>`).
 */
function locationOf(op: Operation, res: LightMyRequestResponse): string {
  if (typeof res.headers.location === 'string') return res.headers.location;
  const id = (res.json() as { ids?: string[] }).ids?.[0];
  if (id === undefined) throw new Error(`POST ${op.path} answered 201 with neither a Location nor ids`);
  return `${op.path.slice(0, op.path.lastIndexOf('/'))}/${id}`;
}

/** A syntactically valid value for each path parameter (the record need not exist). */
function placeholders(op: Operation): Record<string, string> {
  return Object.fromEntries(
    op.pathParams.map((name) => [name, name === 'n' ? '1' : '01936f3e-1c2a-7b3c-8d4e-5f6a7b8c9d0e']),
  );
}
