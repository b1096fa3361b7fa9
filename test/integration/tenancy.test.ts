import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { buildIdentityApp, type IdentityApp, type TenantSlot } from '../helpers/identities.js';
import {
  type ApiDocument,
  apiDocument,
  fillPath,
  matchPath,
  minimalValue,
  type Operation,
  operationsOf,
  requiredQuery,
} from '../helpers/openapi-walk.js';

// SPEC §6, RELIABILITY R11: nothing crosses tenants. Tenant A creates records through every create
// operation of the OpenAPI document; tenant B then calls every operation with A's ids: 404, never 403, never
// A's data, and A's records are unchanged afterwards. Lists, Idempotency-Keys, cursors and ETags are scoped
// to the tenant too. On the embedded file and a real sqld. Routes that land later are walked as they come.

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const cursorOf = (key: unknown[], sort = 'start_time_desc') =>
  Buffer.from(JSON.stringify({ s: sort, k: key })).toString('base64url');

describe.each(BACKENDS)('tenant isolation on $name', ({ env }) => {
  let ids: IdentityApp;
  let doc: ApiDocument;
  let ops: Operation[];
  beforeAll(async () => {
    ids = await buildIdentityApp(env);
    doc = await apiDocument(ids.app);
    ops = operationsOf(doc);
  });
  afterAll(() => ids.close());

  function call(
    slot: TenantSlot,
    method: string,
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ): Promise<LightMyRequestResponse> {
    return ids.app.inject({
      method: method as 'GET',
      url,
      headers: { ...ids.headers(slot, 'admin'), ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  const episode = (overrides: Record<string, unknown> = {}) => ({
    task_type: 'debugging',
    task_description: 'isolation check',
    context: { domain: 'tenancy' },
    ...overrides,
  });

  it("every operation of the OpenAPI document - A's ids with B's key - 404, never A's data; A unchanged", async () => {
    const marker = `canary-${ids.tenants.a}`;
    const templates = Object.keys(doc.paths);
    /** Path parameters of A's records, by the template of the Location that named them. */
    const known = new Map<string, Record<string, string>>();
    const paramsFor = (op: Operation): Record<string, string> | null => {
      if (op.pathParams.length === 0) return {};
      const stem = op.path.slice(0, op.path.lastIndexOf('}') + 1);
      for (const [template, params] of known) {
        if (template.startsWith(stem) && op.pathParams.every((p) => p in params)) return params;
      }
      return null;
    };
    const urlOf = (op: Operation, params: Record<string, string>) => {
      const query = new URLSearchParams(requiredQuery(op, doc)).toString();
      return `${fillPath(op.path, params)}${query ? `?${query}` : ''}`;
    };

    // 1. Tenant A creates through every create operation (201 documented) it can reach, in as many passes
    //    as parameters need: a Location header names the new record and fills the templates it matches.
    const creates = ops.filter((op) => op.method === 'POST' && op.body && '201' in op.responses);
    const done = new Set<Operation>();
    for (let pass = 0; pass < 3; pass++) {
      for (const op of creates) {
        const params = paramsFor(op);
        if (done.has(op) || params === null) continue;
        const res = await call('a', 'POST', urlOf(op, params), minimalValue(op.body ?? {}, doc, marker));
        expect(res.statusCode, `A: POST ${op.path}: ${res.body}`).toBe(201);
        done.add(op);
        const location = res.headers.location;
        if (typeof location !== 'string') continue;
        for (const template of templates) {
          const matched = matchPath(template, location);
          if (matched) known.set(template, matched);
        }
      }
    }
    expect(known.size, 'A created nothing with a Location').toBeGreaterThan(0);
    // What A can read now, to compare after B's attempts.
    const before = new Map<string, string>();
    for (const op of ops.filter((o) => o.method === 'GET')) {
      const params = paramsFor(op);
      if (params === null) continue;
      const res = await call('a', 'GET', urlOf(op, params));
      expect(res.statusCode, `A: GET ${op.path}: ${res.body}`).toBe(200);
      before.set(urlOf(op, params), res.body);
    }
    const aIds = new Set([...before.values()].flatMap((body) => body.match(UUID) ?? []));
    expect(aIds.size).toBeGreaterThan(0);

    // 2. Tenant B, with its admin key (and its read key where that suffices), calls every operation.
    const order = [...ops].sort((x, y) => Number(x.method === 'DELETE') - Number(y.method === 'DELETE'));
    for (const op of order) {
      const params = paramsFor(op);
      expect(
        params,
        `no record of A fills the path parameters of ${op.method} ${op.path}: give its resource a create operation that answers 201 with a Location`,
      ).not.toBeNull();
      const url = urlOf(op, params ?? {});
      const body = op.body ? minimalValue(op.body, doc) : undefined;
      const roles = op.method === 'GET' ? (['admin', 'read'] as const) : (['admin'] as const);
      for (const role of roles) {
        const res = await ids.app.inject({
          method: op.method as 'GET',
          url,
          headers: ids.headers('b', role),
          ...(body === undefined ? {} : { payload: body as object }),
        });
        const where = `B (${role}): ${op.method} ${url} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.body, where).not.toContain(marker);
        expect(res.body, where).not.toContain(ids.tenants.a);
        if (op.pathParams.length > 0) {
          expect(res.statusCode, where).toBe(404);
          expect(res.headers['content-type'], where).toMatch(/^application\/problem\+json/);
          expect(res.json().code, where).toMatch(/_NOT_FOUND$/);
          expect(res.headers.etag, where).toBeUndefined();
        } else {
          expect(res.statusCode, where).toBeLessThan(500);
          for (const id of aIds) expect(res.body, where).not.toContain(id);
        }
      }
    }

    // 3. Nothing of A moved — but A's own list reads, which count as pattern retrievals (SPEC §3.3).
    const ownReads = (body: string) => body.replace(/"times_retrieved":\d+/g, '"times_retrieved":_');
    for (const [url, body] of before) {
      const res = await call('a', 'GET', url);
      expect(res.statusCode, url).toBe(200);
      expect(ownReads(res.body), url).toBe(ownReads(body));
    }
  });

  it("lists - B's key, even filtered to A's agent, episode, tag, text or metadata - none of A's rows", async () => {
    const agent = `agent-${randomUUID()}`;
    const word = `needle${randomUUID().slice(0, 8)}`;
    const created = await call(
      'a',
      'POST',
      '/v1/episodes',
      episode({
        agent_id: agent,
        session_id: agent,
        tags: [word],
        metadata: { probe: word },
        task_description: `find the ${word}`,
        steps: [{ tool: word, action: 'look' }],
      }),
    );
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    const filters = [
      `/v1/episodes?agent_id=${agent}`,
      `/v1/episodes?session_id=${agent}`,
      `/v1/episodes?tag=${word}`,
      `/v1/episodes?q=${word}`,
      `/v1/episodes?metadata.probe=${word}`,
      `/v1/episodes?archived=any&limit=1000`,
      `/v1/episodes?include=steps&agent_id=${agent}`,
      `/v1/steps?episode_id=${id}`,
      `/v1/steps?agent_id=${agent}`,
      `/v1/steps?tool=${word}`,
      '/v1/steps?limit=1000',
    ];
    for (const url of filters) {
      const own = await call('a', 'GET', url);
      expect(own.statusCode, own.body).toBe(200);
      expect(own.body, `A sees its own row through ${url}`).toContain(id);
      const other = await call('b', 'GET', url);
      expect(other.statusCode, other.body).toBe(200);
      expect(other.body, url).not.toContain(id);
      expect(other.body, url).not.toContain(ids.tenants.a);
    }
  });

  it("Idempotency-Key - the same key from B is B's own fresh write; A's remembered responses never reach B", async () => {
    const key = `idem-${randomUUID()}`;
    const body = episode({ task_description: 'idempotent in A' });
    const first = await call('a', 'POST', '/v1/episodes', body, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    // Same key and same body from B: a new record of B's, not A's replay.
    const fromB = await call('b', 'POST', '/v1/episodes', body, { 'idempotency-key': key });
    expect(fromB.statusCode, fromB.body).toBe(201);
    expect(fromB.headers['idempotent-replayed']).toBeUndefined();
    expect(fromB.json().tenant).toBe(ids.tenants.b);
    expect(fromB.json().id).not.toBe(first.json().id);
    // Another body under the same key from B: B's own key now, so 422 there; A still replays its first.
    const otherBody = await call('b', 'POST', '/v1/episodes', episode({ task_description: 'else' }), {
      'idempotency-key': key,
    });
    expect(otherBody.statusCode).toBe(422);
    const replayA = await call('a', 'POST', '/v1/episodes', body, { 'idempotency-key': key });
    expect(replayA.headers['idempotent-replayed']).toBe('true');
    expect(replayA.json().id).toBe(first.json().id);

    // A step append remembered under a key in A: B sending it to A's episode gets 404, not A's answer.
    const stepKey = `step-${randomUUID()}`;
    const step = { tool: 'bash', action: 'ls' };
    const appended = await call('a', 'POST', `/v1/episodes/${first.json().id}/steps`, step, {
      'idempotency-key': stepKey,
    });
    expect(appended.statusCode).toBe(201);
    const replayedToB = await call('b', 'POST', `/v1/episodes/${first.json().id}/steps`, step, {
      'idempotency-key': stepKey,
    });
    expect(replayedToB.statusCode, replayedToB.body).toBe(404);
    expect(replayedToB.headers['idempotent-replayed']).toBeUndefined();
  });

  it("cursors - A's cursor used by B returns only B's rows; a forged cursor cannot cross; garbage is a 400", async () => {
    const agentA = `agent-${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      expect((await call('a', 'POST', '/v1/episodes', episode({ agent_id: agentA }))).statusCode).toBe(201);
    }
    expect((await call('b', 'POST', '/v1/episodes', episode())).statusCode).toBe(201);
    const pageA = (await call('a', 'GET', '/v1/episodes?limit=1')).json();
    const stepsA = await call('a', 'POST', '/v1/episodes', episode({ steps: [{ tool: 't', action: 'a' }] }));
    const stepPageA = (await call('a', 'GET', '/v1/steps?limit=1')).json();
    expect(pageA.next_cursor).toEqual(expect.any(String));
    expect(stepPageA.next_cursor).toEqual(expect.any(String));
    const lastA = JSON.parse(Buffer.from(pageA.next_cursor, 'base64url').toString()).k as unknown[];

    const crossings = [
      `/v1/episodes?cursor=${pageA.next_cursor}`,
      `/v1/episodes?agent_id=${agentA}&cursor=${pageA.next_cursor}`,
      `/v1/episodes?cursor=${cursorOf(lastA)}`,
      `/v1/episodes?cursor=${cursorOf([9e15, 'ffffffff-ffff-7fff-bfff-ffffffffffff'])}`,
      `/v1/episodes?sort=start_time_asc&cursor=${cursorOf([-9e15, '00000000-0000-7000-8000-000000000000'], 'start_time_asc')}`,
      `/v1/episodes?sort=reward_desc&cursor=${cursorOf([null, 'ffffffff-ffff-7fff-bfff-ffffffffffff'], 'reward_desc')}`,
      `/v1/steps?cursor=${stepPageA.next_cursor}`,
      `/v1/steps?cursor=${cursorOf([9e15, 'ffffffff-ffff-7fff-bfff-ffffffffffff', 1e9], 'steps_newest')}`,
    ];
    for (const url of crossings) {
      const res = await call('b', 'GET', url);
      if (res.statusCode === 400) {
        expect(res.json().code, url).toBe('INVALID_CURSOR');
        continue;
      }
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
      const items = res.json().items as { tenant?: string; episode_id?: string }[];
      expect(res.body, url).not.toContain(ids.tenants.a);
      expect(res.body, url).not.toContain(stepsA.json().id);
      for (const item of items) if (item.tenant !== undefined) expect(item.tenant, url).toBe(ids.tenants.b);
    }
    // A's step cursor on A's own episode, sent by B: the episode is not B's.
    const ownSteps = await call(
      'b',
      'GET',
      `/v1/episodes/${stepsA.json().id}/steps?cursor=${cursorOf([0], 'step_number')}`,
    );
    expect(ownSteps.statusCode).toBe(404);
    for (const garbage of ['%%%', 'bm90LWpzb24', cursorOf(['x'], 'other_sort')]) {
      const res = await call('b', 'GET', `/v1/episodes?cursor=${encodeURIComponent(garbage)}`);
      expect(res.statusCode, garbage).toBe(400);
    }
  });

  it("ETags - B's If-None-Match and If-Match on A's record - 404, never 304 or 412; A's ETag unchanged", async () => {
    const created = await call('a', 'POST', '/v1/episodes', episode());
    const id = created.json().id as string;
    const etag = created.headers.etag as string;
    const probes: [string, string, unknown, Record<string, string>][] = [
      ['GET', `/v1/episodes/${id}`, undefined, { 'if-none-match': etag }],
      ['GET', `/v1/episodes/${id}`, undefined, { 'if-none-match': '*' }],
      ['PATCH', `/v1/episodes/${id}`, { archived: true }, { 'if-match': etag }],
      ['PATCH', `/v1/episodes/${id}`, { archived: true }, { 'if-match': '"999"' }],
      ['DELETE', `/v1/episodes/${id}`, undefined, { 'if-match': etag }],
      ['DELETE', `/v1/episodes/${id}`, undefined, { 'if-match': '"999"' }],
    ];
    for (const [method, url, body, headers] of probes) {
      const res = await call('b', method, url, body, headers);
      expect(res.statusCode, `${method} ${JSON.stringify(headers)}: ${res.body}`).toBe(404);
    }
    const after = await call('a', 'GET', `/v1/episodes/${id}`, undefined, { 'if-none-match': etag });
    expect(after.statusCode).toBe(304);
    expect(after.headers.etag).toBe(etag);
  });
});
