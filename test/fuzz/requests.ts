import fc from 'fast-check';
import type { Expectation, Validators } from './checks.js';
import type { Operation, Parameter, Schema } from './document.js';
import type { Sent } from './http.js';
import type { Rng } from './rng.js';
import {
  Entries,
  encode,
  INJECTIONS,
  INVALID_UTF8,
  nestedArrays,
  RAW_NUMBERS,
  RawJson,
  validValue,
  WRONG_TYPES,
} from './values.js';

// Requests for one operation of the document: valid ones, and hostile variants of them. Each carries what
// the answer must be where the document alone decides it (a 4xx for anything it forbids).

/** Who sends a request: its headers (an API key, later) and the tenant and role they stand for. */
export interface Identity {
  name: string;
  tenant: string;
  role: 'read' | 'write' | 'admin';
  headers: Record<string, string>;
}

/** Today's only caller: no API keys exist yet, so everyone acts in the tenant `default` with every right. */
export const ANONYMOUS: Identity = { name: 'anonymous', tenant: 'default', role: 'admin', headers: {} };

export interface Plan {
  /** What kind of request this is (statistics and failure reports). */
  label: string;
  /** The documented operation the request is routed to, if any. */
  op?: Operation;
  identity: Identity;
  method: string;
  /** Path parameter values (decoded). */
  params: Record<string, string>;
  /** The encoded path, when a hostile value must reach the wire as it is. */
  rawPath?: string;
  query: [string, string][];
  rawQuery?: string;
  headers: Record<string, string>;
  /** The body as a value; RawJson and Entries parts are written as they are. */
  body?: unknown;
  /** The body bytes, when they are not `encode(body)` (truncated, not JSON, …). */
  bodyBytes?: Buffer;
  /** True when `body` is a plain JSON value the server must read exactly (for the "nothing altered" check). */
  plainBody: boolean;
  expect: Expectation;
}

/**
 * Percent-encodes text as UTF-8; an unpaired surrogate (which UTF-8 cannot encode) goes out as the three bytes
 * it would take if it could (ED A0 80 for U+D800): invalid UTF-8 that the server must refuse.
 */
export function encodeComponent(text: string): string {
  if (text.isWellFormed()) return encodeURIComponent(text);
  return [...text]
    .map((c) => {
      const unit = c.charCodeAt(0);
      if (c.length > 1 || unit < 0xd800 || unit > 0xdfff) return encodeURIComponent(c);
      const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
      return bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    })
    .join('');
}

export function fillPath(template: string, params: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => encodeComponent(params[name] ?? ''));
}

/** What goes on the wire for a plan. */
export function toSent(plan: Plan): Sent {
  const path = plan.rawPath ?? (plan.op ? fillPath(plan.op.path, plan.params) : '/');
  const query =
    plan.rawQuery ?? plan.query.map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(v)}`).join('&');
  const body = plan.bodyBytes ?? (plan.body === undefined ? undefined : encode(plan.body));
  return {
    method: plan.method,
    target: query ? `${path}?${query}` : path,
    headers: { ...plan.identity.headers, ...plan.headers },
    ...(body ? { body } : {}),
  };
}

const queryText = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** A query value as the server parses it: repeated names become arrays. */
function parsedQuery(pairs: [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const prior = out[k];
    out[k] = prior === undefined ? v : Array.isArray(prior) ? [...prior, v] : [prior, v];
  }
  return out;
}

function querySchema(params: Parameter[]): Schema {
  const query = params.filter((p) => p.in === 'query');
  return {
    type: 'object',
    properties: Object.fromEntries(query.map((p) => [p.name, p.schema])),
    required: query.filter((p) => p.required).map((p) => p.name),
    additionalProperties: false,
  };
}
const querySchemas = new WeakMap<Operation, Schema>();
const querySchemaOf = (op: Operation) => {
  let schema = querySchemas.get(op);
  if (!schema) {
    schema = querySchema(op.params);
    querySchemas.set(op, schema);
  }
  return schema;
};

/** Why the document forbids the plan's parameters and body, or undefined when it allows them. */
export function documentProblem(validators: Validators, plan: Plan): string | undefined {
  const op = plan.op;
  if (!op) return undefined;
  for (const p of op.params.filter((x) => x.in === 'path')) {
    const problem = validators.problem(p.schema, plan.params[p.name], true);
    if (problem) return `path parameter ${p.name}: ${problem}`;
  }
  if (plan.rawQuery === undefined) {
    const problem = validators.problem(querySchemaOf(op), parsedQuery(plan.query), true);
    if (problem) return `query ${problem}`;
  }
  if (op.body && plan.plainBody) {
    if (plan.body === undefined) return op.body.required ? 'the body is required' : undefined;
    const problem = validators.problem(op.body.schema, plan.body);
    if (problem) return `body ${problem}`;
  }
  return undefined;
}

/**
 * A valid request for `op` (per the document), with the given path parameters. With `sparse` (validators to
 * tell what may go) most optional top-level fields are left out: each is one more chance of a rule the
 * document cannot state (a byte limit, end_time after start_time), and a sequence wants its writes to
 * succeed more often than not.
 */
export function validRequest(
  rng: Rng,
  op: Operation,
  params: Record<string, string>,
  identity: Identity,
  sparse?: Validators,
): Plan {
  const query: [string, string][] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (!p.required && !rng.chance(0.3)) continue;
    const value = rng.draw(validValue(p.schema));
    for (const item of Array.isArray(value) ? value : [value]) query.push([p.name, queryText(item)]);
  }
  const headers: Record<string, string> = {};
  let body: unknown;
  if (op.body) {
    headers['content-type'] = rng.pick(op.body.mediaTypes);
    body = rng.draw(validValue(op.body.schema));
    if (sparse) body = sparseBody(rng, sparse, op.body.schema, body);
  }
  return {
    label: 'valid',
    op,
    identity,
    method: op.method,
    params,
    query,
    headers,
    body,
    plainBody: true,
    expect: {},
  };
}

/** `body` without most of its optional top-level fields (those its schema, or the branch it matches, does not require). */
function sparseBody(rng: Rng, validators: Validators, schema: Schema, body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  const shape = branches?.find((b) => validators.problem(b, body) === undefined) ?? schema;
  const required = new Set((shape.required as string[] | undefined) ?? []);
  return Object.fromEntries(Object.entries(body).filter(([key]) => required.has(key) || rng.chance(0.35)));
}

// ---- hostile variants ------------------------------------------------------------------------------

type Node = { path: (string | number)[]; value: unknown };

/** Every value in a JSON tree with its path, the root included. */
function nodesOf(value: unknown, path: (string | number)[] = [], out: Node[] = []): Node[] {
  out.push({ path, value });
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) nodesOf(v, [...path, i], out);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) nodesOf(v, [...path, k], out);
  }
  return out;
}

/** A copy of `root` with the node at `path` replaced (the root itself when `path` is empty). */
function replaced(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(root)) return root.map((v, i) => (i === head ? replaced(v, rest, value) : v));
  const copy = { ...(root as Record<string, unknown>) };
  copy[head as string] = replaced(copy[head as string], rest, value);
  return copy;
}

const UNKNOWN_KEYS = [
  'unknown_field',
  'taks_type',
  'constructor',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  'a\u0000',
];
const UNKNOWN_QUERY = [
  '__proto__',
  'constructor',
  'toString',
  'unknown',
  'limit[]',
  'LIMIT',
  'q ',
  'a.b',
  '%',
];
const BAD_QUERY_ESCAPES = ['%ZZ', '%', '%F', '%FF', '%C3', '%E2%82', '%ED%A0%80'];
const PATH_VALUES = [
  'not-a-uuid',
  '019ABCDE-0000-7000-8000-000000000000',
  '%ZZ',
  '%FF',
  '..',
  '%2F..%2F',
  '%00',
  '%C3%A9',
  '%20',
  '0',
  '-1',
  '1.5',
  '1e400',
  '9007199254740993',
  'NaN',
  "1'%20OR%20'1'%3D'1",
];
const HEADER_VALUES = [
  '',
  ' ',
  '*',
  'W/"1"',
  '"1", "2"',
  '"99999999999999999999"',
  'garbage',
  '"-1"',
  'x'.repeat(300),
  'caf\u00e9',
];
const MEDIA_TYPES = [
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json-patch+json',
  'application/jsonx',
];

/** Replaces one value of the body by something hostile; the document (via ajv) decides whether it must fail. */
function mutateBodyValue(rng: Rng, plan: Plan): Plan {
  const nodes = nodesOf(plan.body);
  const node = rng.pick(nodes);
  const kind = rng.int(6);
  let body: unknown;
  let label: string;
  if (kind === 0) {
    body = replaced(plan.body, node.path, rng.pick(INJECTIONS));
    label = 'injection string';
  } else if (kind === 1) {
    body = replaced(plan.body, node.path, structuredClone(rng.pick(WRONG_TYPES)));
    label = 'wrong type';
  } else if (kind === 2) {
    body = replaced(
      plan.body,
      node.path,
      rng.pick(['x', 'é', '𝄞']).repeat(rng.pick([201, 1_001, 10_001, 70_000, 1_100_000])),
    );
    label = 'oversized string';
  } else if (kind === 3) {
    const items = Array.isArray(node.value) && node.value.length > 0 ? node.value : [node.value];
    const n = rng.pick([65, 101, 501, 1_001]);
    body = replaced(
      plan.body,
      node.path,
      Array.from({ length: n }, (_, i) => structuredClone(items[i % items.length])),
    );
    label = 'oversized array';
  } else if (
    kind === 4 &&
    typeof node.value === 'object' &&
    node.value !== null &&
    !Array.isArray(node.value)
  ) {
    const keys = Object.keys(node.value);
    if (keys.length > 0 && rng.chance(0.5)) {
      const drop = rng.pick(keys);
      body = replaced(
        plan.body,
        node.path,
        Object.fromEntries(Object.entries(node.value).filter(([k]) => k !== drop)),
      );
      label = 'field removed';
    } else {
      body = replaced(plan.body, node.path, {
        ...node.value,
        [rng.pick(UNKNOWN_KEYS)]: rng.pick(WRONG_TYPES),
      });
      label = 'unknown field';
    }
  } else {
    let deep: unknown = {};
    for (let i = 0, depth = rng.int(30) + 1; i < depth; i++) deep = rng.chance(0.5) ? [deep] : { a: deep };
    body = replaced(plan.body, node.path, deep);
    label = 'deep nesting ≤ 30';
  }
  return { ...plan, label: `body: ${label}`, body };
}

/** Body text no JavaScript value serialises to: each must be refused. */
function rawBody(rng: Rng, plan: Plan): Plan {
  const nodes = nodesOf(plan.body);
  const node = rng.pick(nodes);
  const kind = rng.int(7);
  const refused = (label: string, body: unknown, bodyBytes?: Buffer): Plan => ({
    ...plan,
    label: `raw body: ${label}`,
    body,
    ...(bodyBytes ? { bodyBytes } : {}),
    plainBody: false,
    expect: { ...plan.expect, clientError: label },
  });
  switch (kind) {
    case 0:
      return refused(
        `number ${rng.pick(RAW_NUMBERS)}`,
        replaced(plan.body, node.path, RawJson.text(rng.pick(RAW_NUMBERS))),
      );
    case 1: {
      const bytes = Buffer.concat([
        Buffer.from('"ok '),
        Buffer.from(rng.pick(INVALID_UTF8)),
        Buffer.from(' ok"'),
      ]);
      return refused('invalid UTF-8 in a string', replaced(plan.body, node.path, new RawJson(bytes)));
    }
    case 2: {
      const objects = nodes.filter(
        (n) => typeof n.value === 'object' && n.value !== null && !Array.isArray(n.value),
      );
      const target = rng.pick(objects.length > 0 ? objects : [{ path: [], value: {} }]);
      const entries = Object.entries(target.value as object);
      const key = entries.length > 0 ? rng.pick(entries)[0] : 'a';
      const repeated = new Entries([...entries, [key, entries.find(([k]) => k === key)?.[1] ?? 1]]);
      return refused('duplicate key', replaced(plan.body, target.path, repeated));
    }
    case 3:
      return refused(
        'nesting deeper than 32',
        replaced(plan.body, node.path, nestedArrays(33 + rng.int(2_000))),
      );
    case 4: {
      const objects = nodes.filter(
        (n) => typeof n.value === 'object' && n.value !== null && !Array.isArray(n.value),
      );
      const target = rng.pick(objects.length > 0 ? objects : [{ path: [], value: {} }]);
      const poisoned = new Entries([
        ...Object.entries(target.value as object),
        ['__proto__', { polluted: true }],
      ]);
      return refused('__proto__ key', replaced(plan.body, target.path, poisoned));
    }
    case 5: {
      const bytes = encode(plan.body);
      return refused('truncated JSON', plan.body, bytes.subarray(0, rng.int(Math.max(1, bytes.length - 1))));
    }
    default:
      return refused(
        'not JSON',
        plan.body,
        Buffer.from(rng.pick(["{'a': 1}", 'hello', '{"a":1,}', '[1 2]', '{"a" 1}', '\u0000', 'undefined'])),
      );
  }
}

/** One hostile variant of a valid request: body, media type, query, path, headers or method. */
export function hostileRequest(rng: Rng, validators: Validators, base: Plan): Plan {
  const op = base.op as Operation;
  const roll = rng.int(10);
  let plan: Plan;
  if (op.body && roll < 3) plan = mutateBodyValue(rng, base);
  else if (op.body && roll < 5) plan = rawBody(rng, base);
  else if (op.body && roll === 5) {
    const type = rng.pick([...MEDIA_TYPES, '']);
    const { 'content-type': _, ...headers } = base.headers;
    plan = {
      ...base,
      label: `media type ${JSON.stringify(type)}`,
      headers: type ? { ...headers, 'content-type': type } : headers,
      expect: { clientError: 'unsupported media type' },
    };
  } else if (roll <= 6) {
    const name = rng.pick(UNKNOWN_QUERY);
    plan = {
      ...base,
      label: 'unknown query parameter',
      query: [...base.query, [name, rng.pick(['1', '', 'x'])]],
    };
  } else if (roll === 7) {
    const params = op.params.filter((p) => p.in === 'query');
    if (rng.chance(0.3) || params.length === 0) {
      const name = params.length > 0 ? rng.pick(params).name : 'x';
      plan = {
        ...base,
        label: 'query: bad percent-encoding',
        rawQuery: `${encodeURIComponent(name)}=${rng.pick(BAD_QUERY_ESCAPES)}`,
        expect: { clientError: 'bad percent-encoding in the query' },
      };
    } else {
      const p = rng.pick(params);
      const value = rng.chance(0.5)
        ? rng.pick(INJECTIONS)
        : rng.pick(['', 'abc', '-1', '0', '1.5', '1e400', '1001', '99999999999999999999', 'true']);
      const others = base.query.filter(([k]) => k !== p.name);
      const repeat = rng.chance(0.2) ? [[p.name, value] as [string, string]] : [];
      plan = { ...base, label: 'query: hostile value', query: [...others, [p.name, value], ...repeat] };
    }
  } else if (roll === 8 && op.params.some((p) => p.in === 'path')) {
    const p = rng.pick(op.params.filter((x) => x.in === 'path'));
    const value = rng.chance(0.15) ? 'a'.repeat(101 + rng.int(400)) : rng.pick(PATH_VALUES);
    const rawPath = op.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
      name === p.name ? value : encodeComponent(base.params[name] ?? ''),
    );
    let decoded = value;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      // stays raw: the router refuses it
    }
    plan = { ...base, label: 'path: hostile value', rawPath, params: { ...base.params, [p.name]: decoded } };
  } else {
    const names = ['if-match', 'if-none-match', 'idempotency-key', 'x-request-id', 'accept', 'authorization'];
    const name = rng.pick(names);
    plan = {
      ...base,
      label: `header ${name}: hostile value`,
      headers: { ...base.headers, [name]: rng.pick(HEADER_VALUES) },
    };
  }
  if (plan.query.some(([k, v]) => !k.isWellFormed() || !v.isWellFormed())) {
    plan = { ...plan, expect: { ...plan.expect, clientError: 'a query value that is not UTF-8' } };
  }
  if (!plan.expect.clientError) {
    const problem = documentProblem(validators, plan);
    if (problem)
      plan = { ...plan, expect: { ...plan.expect, clientError: `the document forbids it: ${problem}` } };
  }
  return plan;
}

/** A body like `sent` with one string changed: the same Idempotency-Key with it must never replay. */
export function changedBody(sent: unknown): unknown | undefined {
  const leaf = nodesOf(sent).find((n) => typeof n.value === 'string');
  return leaf ? replaced(sent, leaf.path, `${leaf.value as string}-changed`) : undefined;
}

export const uuidV7 = () => fc.uuid({ version: 7 });
