import { isDeepStrictEqual } from 'node:util';
import type { ApiDocument, Operation, Schema } from './document.js';
import type { Identity } from './requests.js';

// The fuzz tier's in-memory model of what the service holds: resource families found in the document
// (a collection POST and an item path with a GET), the items a worker created, their sub-items, and the
// last acknowledged representation of each. Reads are compared with it; at the end every one is read back.

export interface Family {
  /** `POST /v1/episodes` */
  create: Operation;
  /** `/v1/episodes/{id}` */
  itemPath: string;
  itemGet: Operation;
  /** Operations on an item or below it (`PATCH /v1/episodes/{id}`, `POST /v1/episodes/{id}/steps`, …). */
  itemOps: Operation[];
  /** Sub-item kinds: the list of one item's sub-items and the GET of one (`…/steps`, `…/steps/{n}`). */
  children: { list: Operation; get: Operation; embeddedAs: string }[];
}

export interface Child {
  url: string;
  expected: unknown;
  exists: boolean;
}

export interface Item {
  family: Family;
  url: string;
  params: Record<string, string>;
  owner: Identity;
  exists: boolean;
  /** The last representation the service acknowledged; undefined until one is known. */
  expected?: Record<string, unknown>;
  /** Fields of `expected` the model cannot predict since the last read (updated_at after a sub-write). */
  unknown: Set<string>;
  etag?: string;
  oldEtags: string[];
  children: Map<string, Child>;
  /** True once a full listing taught the model every sub-item (creates may add some it never saw). */
  childrenKnown: boolean;
}

/**
 * What a write below an item does to the item, where the model knows it: a step append moves the episode's
 * version by one and its step_count by the steps stored; its updated_at cannot be predicted. Sub-writes
 * not listed here make the item unknown until it is read again.
 */
export const SUB_WRITE_EFFECTS: Record<string, { increment: string[]; count: string; unknown: string[] }> = {
  'POST /v1/episodes/{id}/steps': { increment: ['version'], count: 'step_count', unknown: ['updated_at'] },
};

/** Rules every representation of an item must keep, whatever the sequence of writes (issue 8.1, 8.2). */
export const ITEM_INVARIANTS: Record<string, ((item: Record<string, unknown>) => string | undefined)[]> = {
  '/v1/episodes/{id}': [
    (e) =>
      typeof e.end_time === 'string' && typeof e.start_time === 'string' && e.end_time < e.start_time
        ? `end_time ${e.end_time} before start_time ${e.start_time}`
        : undefined,
  ],
};

const shapes = new WeakMap<Schema, string>();

/** Removes annotations, so that two schemas of the same shape compare equal. */
export function shapeOf(schema: Schema | undefined): string {
  if (!schema) return 'null';
  let shape = shapes.get(schema);
  if (shape === undefined) {
    shape = JSON.stringify(schema, (key, value) =>
      key === 'description' || key === 'examples' ? undefined : value,
    );
    shapes.set(schema, shape);
  }
  return shape;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The resource families of the document. */
export function familiesOf(doc: ApiDocument): Family[] {
  const families: Family[] = [];
  for (const create of doc.operations.filter((o) => o.method === 'POST' && !o.path.includes('{'))) {
    const itemGet = doc.operations.find(
      (o) => o.method === 'GET' && new RegExp(`^${escaped(create.path)}/\\{[^}/]+\\}$`).test(o.path),
    );
    if (!itemGet) continue;
    const itemOps = doc.operations.filter(
      (o) => o.path.startsWith(`${itemGet.path}/`) || o.path === itemGet.path,
    );
    const children = itemOps.flatMap((list) => {
      const get = itemOps.find(
        (g) => g.method === 'GET' && new RegExp(`^${escaped(list.path)}/\\{[^}/]+\\}$`).test(g.path),
      );
      // An item embeds them (`?include=steps`) under the last segment of the list's path.
      return list.method === 'GET' && get
        ? [{ list, get, embeddedAs: list.path.split('/').at(-1) as string }]
        : [];
    });
    families.push({ create, itemPath: itemGet.path, itemGet, itemOps, children });
  }
  return families;
}

/** Differences between what the model expects of an item and what was read (fields it cannot know skipped). */
export function itemDifferences(item: Item, read: Record<string, unknown>): string[] {
  if (!item.expected) return [];
  const keys = new Set([...Object.keys(item.expected), ...Object.keys(read)]);
  for (const kind of item.family.children) keys.delete(kind.embeddedAs); // compared one by one
  return [...keys].flatMap((key) =>
    item.unknown.has(key) || isDeepStrictEqual(item.expected?.[key], read[key])
      ? []
      : [
          `${key}: acknowledged ${JSON.stringify(item.expected?.[key])?.slice(0, 120)}, read ${JSON.stringify(read[key])?.slice(0, 120)}`,
        ],
  );
}
