import { isDeepStrictEqual } from 'node:util';
import { jsonOf } from './checks.js';
import type { ApiDocument, Operation, Schema } from './document.js';
import type { Received } from './http.js';
import { fillPath, type Identity, type Plan } from './requests.js';

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

/**
 * Fields that reads move, per item path, left out when a read is compared with what a write acknowledged:
 * lists count the patterns they return (SPEC §3.3 times_retrieved).
 */
export const READ_MOVED: Record<string, (item: Record<string, unknown>) => Record<string, unknown>> = {
  '/v1/patterns/{id}': (p) => ({
    ...p,
    effectiveness: { ...(p.effectiveness as Record<string, unknown>), times_retrieved: undefined },
  }),
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
export function itemDifferences(item: Item, readAsIs: Record<string, unknown>): string[] {
  if (!item.expected) return [];
  const moved = READ_MOVED[item.family.itemPath] ?? ((record) => record);
  const expected = moved(item.expected);
  const read = moved(readAsIs);
  const keys = new Set([...Object.keys(expected), ...Object.keys(read)]);
  for (const kind of item.family.children) keys.delete(kind.embeddedAs); // compared one by one
  return [...keys].flatMap((key) =>
    item.unknown.has(key) || isDeepStrictEqual(expected[key], read[key])
      ? []
      : [
          `${key}: acknowledged ${JSON.stringify(expected[key])?.slice(0, 120)}, read ${JSON.stringify(read[key])?.slice(0, 120)}`,
        ],
  );
}

const isSuccess = (status: number) => status >= 200 && status < 300;

/** One worker's items and what the service acknowledged about them; `observe` keeps it up to date. */
export class ResourceModel {
  readonly items: Item[] = [];

  constructor(
    private readonly doc: ApiDocument,
    private readonly families: Family[],
    /** Child path template → parameter → the field of a sub-item that holds its value (`n` → `step_number`). */
    private readonly childKeys: Map<string, Record<string, string>>,
  ) {}

  /** Brings the model up to date with an answer; returns what contradicts it. */
  observe(plan: Plan, res: Received, item: Item): string[] {
    const op = plan.op as Operation;
    const family = item.family;
    if (plan.identity.tenant !== item.owner.tenant || res.headers['idempotent-replayed'] === 'true')
      return [];
    if (res.status >= 500 && op.method !== 'GET') {
      // The write may or may not have been applied (a 5xx is reported on its own): read before comparing again.
      for (const field of Object.keys(item.expected ?? {})) item.unknown.add(field);
      item.childrenKnown = false;
      return [];
    }
    const body = res.body.length > 0 ? jsonOf(res).value : undefined;
    const reasons: string[] = [];
    const kind = family.children.find((c) => c.get === op || c.list === op);
    if (op.method === 'GET' && op === family.itemGet) {
      if (res.status === 200) {
        if (!item.exists) reasons.push('a deleted item is still readable');
        const record = body as Record<string, unknown>;
        reasons.push(...itemDifferences(item, record), ...this.invariants(family, record));
        for (const c of family.children) {
          for (const child of (record[c.embeddedAs] as Record<string, unknown>[] | undefined) ?? []) {
            reasons.push(...this.compareChild(item, c.get.path, child));
          }
        }
        this.adopt(item, record, res);
      } else if (res.status === 404 && item.exists) reasons.push('an acknowledged item is gone');
    } else if (isSuccess(res.status) && op.method === 'DELETE' && op.path === family.itemPath) {
      item.exists = false;
      for (const child of item.children.values()) child.exists = false;
    } else if (isSuccess(res.status) && op.method !== 'GET') {
      if (shapeOf(op.responses.get(res.status)) === shapeOf(family.itemGet.responses.get(200))) {
        const record = body as Record<string, unknown>;
        reasons.push(...this.invariants(family, record));
        this.adopt(item, record, res);
      } else this.subWrite(item, op, res, body);
    } else if (kind && op === kind.get) {
      const child = item.children.get(fillPath(op.path, plan.params));
      if (res.status === 200 && (!item.exists || child?.exists === false))
        reasons.push('a deleted sub-item is still readable');
      if (res.status === 200 && child?.exists)
        reasons.push(...this.compareChild(item, op.path, body as Record<string, unknown>));
      if (res.status === 404 && child?.exists && item.exists)
        reasons.push('an acknowledged sub-item is gone');
    } else if (kind && op === kind.list && res.status === 200) {
      for (const record of (body as { items: Record<string, unknown>[] }).items)
        reasons.push(...this.compareChild(item, kind.get.path, record));
    }
    if (
      op.method === 'GET' &&
      isSuccess(res.status) &&
      !item.exists &&
      op !== family.itemGet &&
      op !== kind?.get
    ) {
      reasons.push('a sub-resource of a deleted item answered 2xx');
    }
    return reasons;
  }

  private invariants(family: Family, record: Record<string, unknown>): string[] {
    return (ITEM_INVARIANTS[family.itemPath] ?? []).flatMap((rule) => rule(record) ?? []);
  }

  private adopt(item: Item, record: Record<string, unknown>, res: Received): void {
    const { steps: _, ...rest } = record;
    item.expected = rest;
    item.unknown.clear();
    const etag = res.headers.etag;
    if (item.etag && item.etag !== etag) item.oldEtags.push(item.etag);
    item.etag = etag;
  }

  /** A write below the item: its sub-items are known from Location and the body; the item moves on. */
  private subWrite(item: Item, op: Operation, res: Received, body: unknown): void {
    const location = res.headers.location ? this.doc.match(res.headers.location) : undefined;
    const records = (body as { items?: unknown[] })?.items ?? (location ? [body] : []);
    if (location && records.length > 0) {
      const keys = this.childKeysOf(
        location.path,
        location.values,
        item,
        records[0] as Record<string, unknown>,
      );
      for (const record of records as Record<string, unknown>[]) {
        const params = { ...item.params };
        for (const [param, field] of Object.entries(keys)) params[param] = String(record[field]);
        const url = fillPath(location.path, params);
        item.children.set(url, { url, expected: record, exists: true });
      }
    }
    if (item.etag) item.oldEtags.push(item.etag);
    item.etag = undefined;
    const effect = SUB_WRITE_EFFECTS[op.key];
    if (item.expected && effect) {
      for (const field of effect.increment) item.expected[field] = Number(item.expected[field]) + 1;
      item.expected[effect.count] = Number(item.expected[effect.count]) + records.length;
      for (const field of effect.unknown) item.unknown.add(field);
    } else if (item.expected) for (const field of Object.keys(item.expected)) item.unknown.add(field);
  }

  /** Learns which field of a sub-item fills each path parameter, from a Location and the body it came with. */
  private childKeysOf(
    template: string,
    values: Record<string, string>,
    item: Item,
    record: Record<string, unknown>,
  ): Record<string, string> {
    let keys = this.childKeys.get(template);
    if (!keys) {
      keys = {};
      for (const [param, value] of Object.entries(values)) {
        if (param in item.params) continue;
        const field = Object.keys(record).find((f) => String(record[f]) === value);
        if (field) keys[param] = field;
      }
      this.childKeys.set(template, keys);
    }
    return keys;
  }

  childUrl(item: Item, template: string, record: Record<string, unknown>): string | undefined {
    const keys = this.childKeys.get(template);
    if (!keys || Object.keys(keys).length === 0) return undefined;
    const params = { ...item.params };
    for (const [param, field] of Object.entries(keys)) params[param] = String(record[field]);
    return fillPath(template, params);
  }

  private compareChild(item: Item, template: string, record: Record<string, unknown>): string[] {
    const url = this.childUrl(item, template, record);
    const child = url ? item.children.get(url) : undefined;
    if (!child) return [];
    if (!child.exists) return [`deleted sub-item ${url} is still there`];
    return isDeepStrictEqual(child.expected, record)
      ? []
      : [
          `sub-item ${url}: acknowledged ${JSON.stringify(child.expected).slice(0, 200)}, read ${JSON.stringify(record).slice(0, 200)}`,
        ];
  }

  /** After a complete listing: every acknowledged sub-item once, and (once learned) nothing else. */
  learnChildren(item: Item, template: string, listed: Record<string, unknown>[]): string[] {
    if (!item.exists) return [];
    const urls = listed.map((r) => this.childUrl(item, template, r));
    if (urls.some((u) => u === undefined)) return []; // the field mapping is not learned yet
    const listedSet = new Set(urls as string[]);
    const reasons: string[] = [];
    for (const child of item.children.values()) {
      if (
        child.exists &&
        child.url.startsWith(`${item.url}/`) &&
        this.doc.match(child.url)?.path === template &&
        !listedSet.has(child.url)
      ) {
        reasons.push(`acknowledged sub-item ${child.url} is missing from the listing`);
      }
    }
    if (item.childrenKnown) {
      for (const url of listedSet)
        if (!item.children.get(url)?.exists)
          reasons.push(`the listing shows ${url}, which was never acknowledged`);
    }
    listed.forEach((record, i) => {
      const url = urls[i] as string;
      if (!item.children.has(url)) item.children.set(url, { url, expected: record, exists: true });
    });
    item.childrenKnown = true;
    return reasons;
  }

  /** A create that succeeded: a new item (or, for the same id sent again, the one already known). */
  track(plan: Plan, res: Received): Item | undefined {
    const family = this.families.find((f) => f.create === plan.op) as Family;
    const location = res.headers.location ? this.doc.match(res.headers.location) : undefined;
    const record = jsonOf(res).value as Record<string, unknown>;
    const params = location?.values ?? { id: String(record.id) };
    const url = fillPath(family.itemPath, params);
    const known = this.items.find((i) => i.url === url);
    if (known) return known;
    const item: Item = {
      family,
      url,
      params,
      owner: plan.identity,
      exists: true,
      unknown: new Set(),
      oldEtags: [],
      children: new Map(),
      childrenKnown: false,
    };
    this.items.push(item);
    return item;
  }
}
