import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The fuzz tier's only knowledge of the API: the committed OpenAPI document. Operations, parameters and
// request/response schemas all come from it, so resources that land later are fuzzed without editing.

export type Schema = { [keyword: string]: unknown };

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  /** `POST /v1/episodes/{id}/steps` */
  key: string;
  method: string;
  /** The path template, `{name}` for path parameters. */
  path: string;
  params: Parameter[];
  /** The request body's schema and the media types it may be sent as. */
  body?: { schema: Schema; mediaTypes: string[]; required: boolean };
  /** Documented responses: status → JSON schema of the body (undefined for a body-less response). */
  responses: Map<number, Schema | undefined>;
  /** The least role the operation needs (`x-required-role`; a search by POST needs only `read`). */
  role?: 'read' | 'write' | 'admin';
}

export interface ApiDocument {
  operations: Operation[];
  /** The Problem schema every error body must match. */
  problem: Schema;
  /** The operation a concrete path belongs to (method aside), with its path parameters. */
  match(path: string): { path: string; values: Record<string, string> } | undefined;
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

export const OPENAPI_FILE = join(import.meta.dirname, '../../openapi/openapi.json');

/** Replaces every local `$ref` with the schema it names (the document has no cycles). */
function resolve(value: unknown, root: Schema): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, root));
  if (typeof value !== 'object' || value === null) return value;
  const ref = (value as Schema).$ref;
  if (typeof ref === 'string') {
    let target: unknown = root;
    for (const part of ref.replace(/^#\//, '').split('/')) target = (target as Schema)[part];
    if (target === undefined) throw new Error(`unresolvable $ref ${ref}`);
    return resolve(target, root);
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, root)]));
}

function templatePattern(path: string): RegExp {
  const source = path.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)');
  return new RegExp(`^${source}$`);
}

export function loadDocument(file = OPENAPI_FILE): ApiDocument {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Schema;
  const doc = resolve(raw, raw) as {
    paths: Record<string, Record<string, Schema>>;
    components: { schemas: Record<string, Schema> };
  };
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = ((op.parameters as Schema[] | undefined) ?? []).map((p) => ({
        name: String(p.name),
        in: p.in as Parameter['in'],
        required: p.required === true,
        schema: (p.schema as Schema | undefined) ?? {},
      }));
      const content = (op.requestBody as Schema | undefined)?.content as Record<string, Schema> | undefined;
      const mediaTypes = Object.keys(content ?? {});
      const firstMedia = mediaTypes[0];
      const body =
        content && firstMedia
          ? {
              schema: (content[firstMedia]?.schema as Schema | undefined) ?? {},
              mediaTypes,
              required: (op.requestBody as Schema).required === true,
            }
          : undefined;
      const responses = new Map<number, Schema | undefined>();
      for (const [status, response] of Object.entries((op.responses as Record<string, Schema>) ?? {})) {
        const media = (response.content as Record<string, Schema> | undefined) ?? {};
        const first = Object.values(media)[0];
        responses.set(Number(status), first?.schema as Schema | undefined);
      }
      operations.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        params,
        ...(body ? { body } : {}),
        responses,
        ...(op['x-required-role'] ? { role: op['x-required-role'] as Operation['role'] } : {}),
      });
    }
  }
  const problem = doc.components.schemas.Problem;
  if (!problem) throw new Error('the document has no Problem schema');
  // Literal segments beat parameters: /v1/episodes/batch is not /v1/episodes/{id}.
  const templates = [...new Set(operations.map((o) => o.path))]
    .map((path) => ({
      path,
      pattern: templatePattern(path),
      names: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string),
    }))
    .sort((a, b) => a.names.length - b.names.length);
  return {
    operations,
    problem,
    match(path) {
      for (const t of templates) {
        const m = t.pattern.exec(path);
        if (!m) continue;
        const values = Object.fromEntries(
          t.names.map((name, i) => [name, decodeURIComponent(m[i + 1] as string)]),
        );
        return { path: t.path, values };
      }
      return undefined;
    },
  };
}
