import { isDeepStrictEqual } from 'node:util';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Operation, Schema } from './document.js';
import type { Received } from './http.js';

// What every response must satisfy, whatever was asked (issue 8.6): no 5xx; every error is problem+json
// with the request id of its x-request-id header; every 2xx body valid against its documented schema.

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;
type Validate = ((value: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string }[] | null;
};

/** JSON Schema validators: `strict` for bodies, `coercing` for parameters (query strings are text). */
export class Validators {
  private readonly strict = addFormats(new Ajv2020({ strict: false, allErrors: false }));
  private readonly coercing = addFormats(
    new Ajv2020({ strict: false, allErrors: false, coerceTypes: 'array' }),
  );
  private readonly compiled = new WeakMap<Schema, Validate>();
  private readonly compiledCoercing = new WeakMap<Schema, Validate>();

  /** Undefined when `value` is valid, else why not. */
  problem(schema: Schema, value: unknown, coerce = false): string | undefined {
    const cache = coerce ? this.compiledCoercing : this.compiled;
    let validate = cache.get(schema);
    if (!validate) {
      validate = (coerce ? this.coercing : this.strict).compile(schema) as Validate;
      cache.set(schema, validate);
    }
    if (validate(value)) return undefined;
    const e = validate.errors?.[0];
    return `${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`;
  }
}

export interface Expectation {
  /** The document forbids something in the request (or JSON cannot carry it): a 4xx, never a 2xx. */
  clientError?: string;
  /** The model knows the answer: one of these statuses. */
  status?: number[];
  /** The target does not exist: never a 2xx. */
  notSuccess?: string;
}

const PROBLEM_JSON = /^application\/problem\+json/;
// Answered before routing, for any path: not part of an operation's documented responses.
const BEFORE_ROUTING = new Set([408, 414, 431]);

const parsed = new WeakMap<Received, { value?: unknown; error?: string }>();

/** Parses a JSON body (once per response), or says why it cannot. */
export function jsonOf(res: Received): { value?: unknown; error?: string } {
  let result = parsed.get(res);
  if (!result) {
    try {
      result = { value: JSON.parse(res.body.toString('utf8')) };
    } catch {
      result = { error: `body is not JSON: ${JSON.stringify(res.body.subarray(0, 200).toString('utf8'))}` };
    }
    parsed.set(res, result);
  }
  return result;
}

/** The invariants of every response; `op` is the operation the request was routed to, when known. */
export function responseProblems(
  validators: Validators,
  problemSchema: Schema,
  res: Received,
  op: Operation | undefined,
  expect: Expectation,
): string[] {
  const found: string[] = [];
  const requestId = res.headers['x-request-id'];
  if (res.status >= 500) found.push(`server error ${res.status}`);
  if (!requestId) found.push('no x-request-id header');
  if (res.status >= 400) {
    if (!PROBLEM_JSON.test(res.headers['content-type'] ?? '')) {
      found.push(`error without problem+json (content-type ${res.headers['content-type']})`);
    }
    const { value, error } = jsonOf(res);
    if (error) found.push(error);
    else {
      const invalid = validators.problem(problemSchema, value);
      if (invalid) found.push(`problem body does not match the Problem schema: ${invalid}`);
      const problem = value as { status?: unknown; request_id?: unknown; errors?: unknown[] };
      if (problem.status !== res.status)
        found.push(`problem status ${String(problem.status)} ≠ HTTP ${res.status}`);
      if (problem.request_id !== requestId)
        found.push('problem request_id differs from the x-request-id header');
      if (res.status === 400 && !(problem.errors && problem.errors.length > 0))
        found.push('400 without an errors array');
    }
  }
  if (op && !op.responses.has(res.status) && !BEFORE_ROUTING.has(res.status)) {
    found.push(`status ${res.status} is not documented for ${op.key}`);
  }
  if (op && res.status >= 200 && res.status < 300 && op.responses.has(res.status)) {
    const schema = op.responses.get(res.status);
    if (schema === undefined) {
      if (res.body.length > 0) found.push(`documented without a body, answered ${res.body.length} bytes`);
    } else {
      const { value, error } = jsonOf(res);
      if (error) found.push(error);
      else {
        const invalid = validators.problem(schema, value);
        if (invalid) found.push(`${res.status} body does not match its documented schema: ${invalid}`);
      }
    }
  }
  const success = res.status >= 200 && res.status < 300;
  if (expect.clientError && (res.status < 400 || res.status >= 500)) {
    found.push(`expected a 4xx (${expect.clientError}), got ${res.status}`);
  }
  if (expect.status && !expect.status.includes(res.status)) {
    found.push(`expected ${expect.status.join(' or ')}, got ${res.status}`);
  }
  if (expect.notSuccess && success) found.push(`expected no 2xx (${expect.notSuccess}), got ${res.status}`);
  return found;
}

/**
 * Fields of an accepted write that came back different from what was sent ("nothing accepted is altered"):
 * `sent` is walked with its schema, each value compared with the response's value at the same place where
 * the response has one. Timestamps (re-rendered in UTC) and fields the document calls normalised are skipped;
 * a `null` sent may come back absent (a merge patch deletes).
 */
export function alteredFields(
  validators: Validators,
  sent: unknown,
  schema: Schema,
  received: unknown,
  path = '',
): string[] {
  if (received === undefined) return [];
  if (schema.format === 'date-time' || /normalised/i.test(String(schema.description ?? ''))) return [];
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (branches) {
    const branch = branches.find((b) => validators.problem(b, sent) === undefined);
    return branch ? alteredFields(validators, sent, branch, received, path) : [];
  }
  if (sent === null || typeof sent !== 'object') {
    return isDeepStrictEqual(sent, received)
      ? []
      : [`${path || '/'}: sent ${show(sent)}, stored ${show(received)}`];
  }
  if (Array.isArray(sent)) {
    if (!Array.isArray(received) || received.length !== sent.length) {
      return [`${path || '/'}: sent ${show(sent)}, stored ${show(received)}`];
    }
    const items = (i: number): Schema =>
      ((schema.prefixItems as Schema[] | undefined)?.[i] ?? (schema.items as Schema | undefined)) || {};
    return sent.flatMap((v, i) => alteredFields(validators, v, items(i), received[i], `${path}/${i}`));
  }
  if (typeof received !== 'object' || received === null)
    return [`${path || '/'}: sent an object, stored ${show(received)}`];
  const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
  const extra =
    typeof schema.additionalProperties === 'object' ? (schema.additionalProperties as Schema) : {};
  return Object.entries(sent).flatMap(([key, v]) => {
    const inner = Object.hasOwn(received, key) ? (received as Record<string, unknown>)[key] : undefined;
    if (v === null)
      return inner === undefined || inner === null
        ? []
        : [`${path}/${key}: sent null, stored ${show(inner)}`];
    // At the top a request and its record differ in shape (steps, embedding); below it a lost key is a loss.
    if (inner === undefined && path !== '') return [`${path}/${key}: sent ${show(v)}, not stored`];
    return alteredFields(validators, v, properties[key] ?? extra, inner, `${path}/${key}`);
  });
}

const show = (v: unknown) => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
};
