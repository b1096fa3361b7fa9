import fc from 'fast-check';
import type { Schema } from './document.js';

// Values for the fuzz tier: valid ones from the JSON Schemas of the OpenAPI document (the subset it uses),
// and hostile ones that no schema allows or that JSON cannot carry as a JavaScript value.

/** Keywords the generator reads. */
const GENERATED = new Set([
  'type',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'maxProperties',
  'minProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
]);
/** Keywords that say nothing about which values are valid. */
const ANNOTATIONS = new Set([
  'description',
  'examples',
  'example',
  'title',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'id',
  '$id',
  '$schema',
]);

/**
 * Keywords of `schema` the generator does not understand, with where they are. The fuzz tier refuses to run
 * on such a document rather than fuzz a resource it cannot generate valid values for.
 */
export function unsupportedKeywords(schema: unknown, where: string): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const found: string[] = [];
  for (const [keyword, value] of Object.entries(schema)) {
    if (!GENERATED.has(keyword) && !ANNOTATIONS.has(keyword)) found.push(`${where}: ${keyword}`);
    if (keyword === 'properties') {
      for (const [name, sub] of Object.entries(value as Schema))
        found.push(...unsupportedKeywords(sub, `${where}/${name}`));
    } else if (keyword === 'anyOf' || keyword === 'oneOf') {
      for (const [i, sub] of (value as unknown[]).entries()) {
        found.push(...unsupportedKeywords(sub, `${where}/${keyword}/${i}`));
      }
    } else if (['items', 'additionalProperties', 'propertyNames'].includes(keyword)) {
      found.push(...unsupportedKeywords(value, `${where}/${keyword}`));
    } else if (keyword === 'prefixItems') {
      for (const [i, sub] of (value as unknown[]).entries()) {
        found.push(...unsupportedKeywords(sub, `${where}/${keyword}/${i}`));
      }
    }
  }
  if (schema && 'format' in schema && !['uuid', 'date-time'].includes(String((schema as Schema).format))) {
    found.push(`${where}: format ${String((schema as Schema).format)}`);
  }
  return found;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** RFC 3339 timestamps as clients send them: Z or an offset, 0..3 fraction digits, years 0001..9998. */
const timestamp = memo(() =>
  fc
    .tuple(
      fc.date({
        min: new Date('0001-01-02T00:00:00Z'),
        max: new Date('9998-12-30T00:00:00Z'),
        noInvalidDate: true,
      }),
      fc.constantFrom(0, 1, 3, 3, 3),
      fc.oneof(fc.constant(0), fc.integer({ min: -14 * 60, max: 14 * 60 })),
    )
    .map(([date, digits, offsetMinutes]) => {
      const shifted = new Date(date.getTime() + offsetMinutes * 60_000).toISOString(); // local time at the offset
      const fraction = digits === 0 ? '' : `.${shifted.slice(20, 23).slice(0, digits)}`;
      const sign = offsetMinutes < 0 ? '-' : '+';
      const abs = Math.abs(offsetMinutes);
      const zone =
        offsetMinutes === 0
          ? 'Z'
          : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
      return `${shifted.slice(0, 19)}${fraction}${zone}`;
    }),
);

/** One arbitrary per key: building a fast-check string arbitrary costs milliseconds. */
function memo<A extends unknown[], T>(make: (...args: A) => T): (...args: A) => T {
  const made = new Map<string, T>();
  return (...args) => {
    const key = JSON.stringify(args);
    let value = made.get(key);
    if (value === undefined) {
      value = make(...args);
      made.set(key, value);
    }
    return value;
  };
}

/** Free text: ASCII mostly, any Unicode (astral planes, U+0000) sometimes. */
const text = memo((minLength: number, maxLength: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength }) },
  ),
);

const finiteDouble = (min?: number, max?: number) =>
  fc
    .double({
      noNaN: true,
      noDefaultInfinity: true,
      ...(min === undefined ? {} : { min }),
      ...(max === undefined ? {} : { max }),
    })
    .map((x) => x + 0); // JSON cannot carry -0

/** Arbitrary JSON for schemas that allow anything (`{}`), two levels deep at most. */
const anyJson = memo(() =>
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown),
);

const cache = new WeakMap<Schema, fc.Arbitrary<unknown>>();

/** Values valid against `schema` (the keywords of GENERATED). Lengths stay small; hostile sizes come from `mutate`. */
export function validValue(schema: Schema): fc.Arbitrary<unknown> {
  let arb = cache.get(schema);
  if (!arb) {
    arb = build(schema);
    cache.set(schema, arb);
  }
  return arb;
}

function build(s: Schema): fc.Arbitrary<unknown> {
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  if ('const' in s) return fc.constant(s.const);
  const branches = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (branches) return fc.oneof(...branches.map(validValue));
  if (Array.isArray(s.type))
    return fc.oneof(...(s.type as string[]).map((type) => validValue({ ...s, type })));
  switch (s.type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const min = Math.max(num(s.minimum) ?? -1e6, Number.MIN_SAFE_INTEGER);
      const max = Math.min(num(s.maximum) ?? 1e6, Number.MAX_SAFE_INTEGER);
      return fc.oneof(fc.integer({ min, max: Math.min(max, min + 1000) }), fc.integer({ min, max }));
    }
    case 'number': {
      const min = num(s.minimum) ?? num(s.exclusiveMinimum);
      const max = num(s.maximum) ?? num(s.exclusiveMaximum);
      const inRange = (x: number) =>
        (num(s.exclusiveMinimum) === undefined || x > (s.exclusiveMinimum as number)) &&
        (num(s.exclusiveMaximum) === undefined || x < (s.exclusiveMaximum as number));
      return fc
        .oneof(
          fc.integer({ min: Math.ceil(min ?? -1e6), max: Math.floor(max ?? 1e6) }),
          fc
            .double({ min: min ?? -1e4, max: max ?? 1e4, noNaN: true, noDefaultInfinity: true })
            .map((x) => x + 0),
          finiteDouble(min, max),
        )
        .filter(inRange);
    }
    case 'string':
      return stringValue(s);
    case 'array': {
      // A tuple (zod's z.tuple: prefixItems, and `items: false` for nothing after them).
      if (Array.isArray(s.prefixItems)) return fc.tuple(...(s.prefixItems as Schema[]).map(validValue));
      const minLength = num(s.minItems) ?? 0;
      const maxLength = Math.max(minLength, Math.min(num(s.maxItems) ?? 4, 4));
      return fc.array(validValue((s.items as Schema | undefined) ?? {}), { minLength, maxLength });
    }
    case 'object':
      return objectValue(s);
    default:
      return anyJson();
  }
}

function stringValue(s: Schema): fc.Arbitrary<string> {
  const minLength = num(s.minLength) ?? 0;
  const maxLength = Math.max(minLength, Math.min(num(s.maxLength) ?? 40, 40));
  const fits = (v: string) =>
    v.length >= minLength && v.length <= (num(s.maxLength) ?? Number.POSITIVE_INFINITY);
  if (typeof s.pattern === 'string') {
    return fc.stringMatching(new RegExp(s.pattern), { maxLength: Math.max(maxLength, 8) }).filter(fits);
  }
  if (s.format === 'uuid') return fc.uuid({ version: 7 });
  if (s.format === 'date-time') return timestamp();
  return text(minLength, maxLength);
}

function objectValue(s: Schema): fc.Arbitrary<unknown> {
  const properties = (s.properties as Record<string, Schema> | undefined) ?? {};
  const required = (s.required as string[] | undefined) ?? [];
  const extra = s.additionalProperties;
  const named = fc.record(
    Object.fromEntries(Object.entries(properties).map(([name, sub]) => [name, validValue(sub)])),
    { requiredKeys: required.filter((name) => name in properties), noNullPrototype: true },
  );
  if (extra === false || (Object.keys(properties).length > 0 && extra === undefined)) return named;
  const keys = s.propertyNames ? validValue(s.propertyNames as Schema) : text(1, 12);
  const values = typeof extra === 'object' && extra !== null ? validValue(extra as Schema) : anyJson();
  const limit = num(s.maxProperties);
  const dictionary = (minKeys: number, maxKeys: number) =>
    fc.dictionary(keys as fc.Arbitrary<string>, values, { minKeys, maxKeys, noNullPrototype: true });
  // Now and then exactly at the limit: the next write that adds a key must be refused (issue 8.2).
  const free =
    limit === undefined
      ? dictionary(0, 5)
      : fc.oneof(
          { weight: 9, arbitrary: dictionary(0, Math.min(limit, 5)) },
          { weight: 1, arbitrary: dictionary(limit, limit) },
        );
  return fc
    .tuple(named, free)
    .map(([fixed, extraKeys]) => ({ ...extraKeys, ...(fixed as object) }))
    .filter((o) => Object.keys(o).length <= (limit ?? Number.POSITIVE_INFINITY));
}

// ---- hostile values -----------------------------------------------------------------------------

/** JSON text (or bytes) spliced into a body as is: what no JavaScript value serialises to. */
export class RawJson {
  constructor(readonly bytes: Buffer) {}
  static text(text: string): RawJson {
    return new RawJson(Buffer.from(text, 'utf8'));
  }
}

/** An object written with its entries in order, repeated keys included. */
export class Entries {
  constructor(readonly entries: [string, unknown][]) {}
}

/** Serialises a value holding RawJson and Entries parts into the bytes of a request body. */
export function encode(value: unknown): Buffer {
  const parts: Buffer[] = [];
  const write = (v: unknown): void => {
    if (v instanceof RawJson) parts.push(v.bytes);
    else if (v instanceof Entries) {
      parts.push(Buffer.from('{'));
      v.entries.forEach(([key, inner], i) => {
        parts.push(Buffer.from(`${i ? ',' : ''}${JSON.stringify(key)}:`));
        write(inner);
      });
      parts.push(Buffer.from('}'));
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from('['));
      v.forEach((inner, i) => {
        if (i) parts.push(Buffer.from(','));
        write(inner);
      });
      parts.push(Buffer.from(']'));
    } else if (typeof v === 'object' && v !== null) {
      write(new Entries(Object.entries(v)));
    } else parts.push(Buffer.from(JSON.stringify(v) ?? 'null'));
  };
  write(value);
  return Buffer.concat(parts);
}

/** Strings that have broken other services: SQL, JSON path, FTS5, template, path and shell syntax, Unicode oddities. */
export const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE episodes; --",
  '" OR 1=1 --',
  '1; SELECT * FROM idempotency_keys',
  '$.metadata',
  "$[0]'",
  "json_extract(body, '$')",
  '"flaky" OR "test"',
  'NEAR(a b) AND c*',
  '^abc',
  'col:value',
  '{{7*7}}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j-style lookup, sent as it is
  '${jndi:ldap://x/a}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '%00',
  '%ZZ',
  'a\u0000b',
  '\u0000',
  '\ud800',
  'x\udfff',
  '\u202eRTL',
  '\ufeffbom',
  '\uffff',
  '𝄞🙂👩‍👩‍👧',
  '  ',
  'NaN',
  'Infinity',
  'null',
  '1e400',
  '-0',
  '\\',
  '"',
  'a'.repeat(300),
];

export const RAW_NUMBERS = [
  '1e400',
  '-1e400',
  '1e-400',
  '12345678901234567891',
  '9007199254740993',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x10',
  '01',
  '1.',
  '+1',
  '.5',
];
export const WRONG_TYPES: unknown[] = [null, true, false, 0, -1, 1.5, '', 'x', [], {}, [null], { a: 1 }];

/** Invalid UTF-8 inside a JSON string: a stray byte, a truncated sequence, an overlong form, an encoded surrogate. */
export const INVALID_UTF8 = [
  [0xff],
  [0xc3],
  [0xe2, 0x82],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

/** Arrays nested `depth` deep, as raw JSON text. */
export const nestedArrays = (depth: number) => RawJson.text(`${'['.repeat(depth)}${']'.repeat(depth)}`);
