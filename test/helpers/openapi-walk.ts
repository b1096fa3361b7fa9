import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

// Walking the API as its OpenAPI document describes it, so that tests which must cover every operation
// (tenancy, roles, limits) cover the routes that land later without being edited: the operations, their
// path parameters, and a minimal valid request body generated from each operation's schema.

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
}

export interface Operation {
  method: string;
  /** The OpenAPI path, e.g. `/v1/episodes/{id}/steps/{n}`. */
  path: string;
  pathParams: string[];
  /** The schema of each path parameter, by name. */
  pathSchemas: Record<string, JsonSchema>;
  query: Parameter[];
  body?: JsonSchema;
  responses: Record<string, unknown>;
  security?: Record<string, string[]>[];
  /** `x-required-role`: the least role the operation needs. */
  role?: string;
}

export interface ApiDocument {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, JsonSchema>; securitySchemes?: Record<string, unknown> };
}

/** The live document of a built app: what `/openapi.json` serves (and what openapi/openapi.json commits). */
export async function apiDocument(app: FastifyInstance): Promise<ApiDocument> {
  await app.ready();
  return app.swagger() as unknown as ApiDocument;
}

export function operationsOf(doc: ApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.flatMap((method) => {
      const op = item[method] as
        | {
            parameters?: Parameter[];
            requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
            responses?: Record<string, unknown>;
            security?: Record<string, string[]>[];
            'x-required-role'?: string;
          }
        | undefined;
      if (!op) return [];
      return [
        {
          method: method.toUpperCase(),
          path,
          pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string),
          pathSchemas: Object.fromEntries(
            (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => [p.name, p.schema ?? {}]),
          ),
          query: (op.parameters ?? []).filter((p) => p.in === 'query'),
          body: op.requestBody?.content?.['application/json']?.schema,
          responses: op.responses ?? {},
          security: op.security,
          role: op['x-required-role'],
        },
      ];
    }),
  );
}

/** `/v1/episodes/{id}` + `{ id: 'x' }` → `/v1/episodes/x`. */
export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} of ${path}`);
    return encodeURIComponent(value);
  });
}

/** The path parameters of `template` read from a concrete `path` (e.g. a Location header), or null. */
export function matchPath(template: string, path: string): Record<string, string> | null {
  const names: string[] = [];
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const name = /^\{([^}]+)\}$/.exec(part)?.[1];
      if (name === undefined) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(name);
      return '([^/?]+)';
    })
    .join('');
  const match = new RegExp(`^${source}$`).exec(path);
  if (!match) return null;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1] as string)]));
}

/**
 * The smallest value valid against `schema`: required properties only, first alternatives, minimal
 * lengths. Strings are `text` (when the schema's pattern and lengths allow it), so a test can recognise
 * what it wrote.
 */
export function minimalValue(schema: JsonSchema, doc: ApiDocument, text = 'xx'): unknown {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`unresolved ${schema.$ref}`);
    return minimalValue(target, doc, text);
  }
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const alternative = schema.oneOf?.[0] ?? schema.anyOf?.[0];
  if (alternative) return minimalValue(alternative, doc, text);
  if (schema.allOf) {
    return Object.assign({}, ...schema.allOf.map((part) => minimalValue(part, doc, text) as object));
  }
  const type = [schema.type ?? (schema.properties ? 'object' : 'string')].flat().find((t) => t !== 'null');
  switch (type) {
    case 'object':
      return Object.fromEntries(
        (schema.required ?? []).map((name) => [
          name,
          minimalValue(schema.properties?.[name] ?? {}, doc, text),
        ]),
      );
    case 'array':
      // An array whose minimal items are not valid together (a vector must not be all zeros) shows an example.
      if (schema.examples?.[0] !== undefined) return schema.examples[0];
      return Array.from({ length: schema.minItems ?? 0 }, () => minimalValue(schema.items ?? {}, doc, text));
    case 'integer':
    case 'number':
      return schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
    case 'boolean':
      return false;
    default:
      return minimalString(schema, text);
  }
}

function minimalString(schema: JsonSchema, text: string): string {
  if (schema.format === 'uuid') return randomUUID();
  if (schema.format === 'date-time') return new Date().toISOString();
  const candidates = [text, text.toLowerCase().replace(/[^a-z0-9]/g, ''), 'xx', 'x'];
  const fits = (s: string) =>
    s.length >= (schema.minLength ?? 0) &&
    s.length <= (schema.maxLength ?? Number.POSITIVE_INFINITY) &&
    (schema.pattern === undefined || new RegExp(schema.pattern, 'u').test(s));
  const found = candidates.find(fits);
  if (found === undefined) {
    throw new Error(`cannot make a string for ${JSON.stringify(schema)}: teach minimalString this shape`);
  }
  return found;
}

/** Required query parameters of an operation, each with its minimal value. */
export function requiredQuery(op: Operation, doc: ApiDocument): Record<string, string> {
  return Object.fromEntries(
    op.query.filter((p) => p.required).map((p) => [p.name, String(minimalValue(p.schema ?? {}, doc))]),
  );
}
