import { Buffer } from 'node:buffer';
import { z } from 'zod';
import {
  DEFAULT_LIST_LIMIT,
  MAX_CURSOR_CHARS,
  MAX_LIST_LIMIT,
  MAX_METADATA_KEY_CHARS,
  MAX_METADATA_KEYS,
  MAX_METADATA_VALUE_BYTES,
  MAX_NAME_CHARS,
  MAX_TAG_CHARS,
  MAX_TAGS,
  MIN_TAG_CHARS,
} from './limits.js';

// Schemas and rules shared by every resource. Request schemas validate and never rewrite: the only
// alterations the service makes are tag normalisation and rendering timestamps in canonical UTC.

/** Size of a string in UTF-8 bytes, the unit of every byte limit. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Quotes user input for an error message, shortened so a huge value does not flood the response. */
function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}

// With the `u` flag a surrogate pair is one code point, so this matches only unpaired halves.
// UTF-8 cannot encode them: stored, they would come back as U+FFFD, so they are refused instead.
function textChecks(schema: z.ZodString, maxBytes?: number) {
  return schema.superRefine((s, ctx) => {
    if (!s.isWellFormed()) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be well-formed Unicode: it contains an unpaired surrogate',
      });
    }
    if (maxBytes === undefined) return;
    const bytes = utf8Bytes(s);
    if (bytes > maxBytes) {
      ctx.addIssue({
        code: 'too_big',
        origin: 'string',
        maximum: maxBytes,
        inclusive: true,
        message: `must be at most ${maxBytes} bytes of UTF-8 (got ${bytes})`,
      });
    }
  });
}

const atLeast = (min: number) => (min === 1 ? 'must not be empty' : `must be at least ${min} characters`);

/** A string of `min`..`maxChars` characters (UTF-16 code units, as JSON Schema tools count them). */
export function boundedString(min: number, maxChars: number) {
  return textChecks(
    z.string().min(min, atLeast(min)).max(maxChars, `must be at most ${maxChars} characters`),
  );
}

/** A string of at least `min` characters and at most `maxBytes` bytes of UTF-8. */
export function boundedText(min: number, maxBytes: number) {
  return textChecks(z.string().min(min, atLeast(min)), maxBytes);
}

/**
 * Text that SQLite itself must read: an indexed column (SQLite reads TEXT only up to a NUL, so it would be
 * cut on the way back) or a full-text query (FTS5 stops at a NUL and fails). U+0000 is refused in it.
 */
export function withoutNul<T extends z.ZodType<string>>(schema: T) {
  return schema.refine((s) => !s.includes('\u0000'), 'must not contain U+0000');
}

/** Names and identifiers (agent, session, domain, tool, model, ...): indexed columns. */
export const Name = withoutNul(boundedString(1, MAX_NAME_CHARS));

// Lower-case only: an id is compared as text everywhere, so one UUID must have one spelling.
export const Uuid = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'must be a UUID in lower-case hyphenated form',
  )
  .meta({ format: 'uuid' });
export type Uuid = z.infer<typeof Uuid>;

// ---- Timestamps -----------------------------------------------------------------------------------

// Seconds are required and any number of fraction digits is captured, so that "too precise" gets its
// own message: we refuse rather than silently truncate what we cannot store.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const EARLIEST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Milliseconds since the epoch, or why `s` is not an accepted timestamp. */
function parseTimestamp(s: string): number | string {
  const m = RFC3339.exec(s);
  if (!m) {
    return 'must be an RFC 3339 date-time with seconds and Z or a ±hh:mm offset, e.g. 2026-11-25T17:37:08.123Z';
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, ...number[]];
  const fraction = m[7] ?? '';
  if (fraction.length > 3) {
    return 'must have at most 3 fractional digits: timestamps are stored to the millisecond';
  }
  const [offsetHours, offsetMinutes] = [Number(m[9] ?? 0), Number(m[10] ?? 0)];
  const date = new Date(0);
  date.setUTCFullYear(year, month! - 1, day);
  date.setUTCHours(hour!, minute!, second!, Number(fraction.padEnd(3, '0')));
  // Date rolls impossible fields over (Feb 30 becomes Mar 2); a field that moved means no such instant.
  const valid =
    date.getUTCMonth() === month! - 1 &&
    date.getUTCDate() === day &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59;
  if (!valid) return 'is not a real calendar date and time';
  const ms = date.getTime() - (m[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  if (ms < EARLIEST_MS || ms > LATEST_MS) return 'must fall within the years 0000..9999 in UTC';
  return ms;
}

/** A timestamp in a request: RFC 3339 with `Z` or an offset and at most millisecond precision. */
export const Timestamp = z
  .string()
  .superRefine((s, ctx) => {
    const parsed = parseTimestamp(s);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  })
  .meta({
    format: 'date-time',
    description:
      'RFC 3339 date-time with Z or a ±hh:mm offset and at most 3 fractional digits; returned in UTC as YYYY-MM-DDTHH:mm:ss.sssZ',
    examples: ['2026-11-25T17:37:08.123Z'],
  });
export type Timestamp = z.infer<typeof Timestamp>;

/** A timestamp in a response: always UTC with milliseconds, `YYYY-MM-DDTHH:mm:ss.sssZ`. */
export const TimestampOut = z.iso.datetime({ precision: 3 }).meta({
  description: 'UTC with milliseconds: YYYY-MM-DDTHH:mm:ss.sssZ',
  examples: ['2026-11-25T17:37:08.123Z'],
});
export type TimestampOut = z.infer<typeof TimestampOut>;

/** Milliseconds since the epoch of a valid request timestamp; throws a RangeError for anything else. */
export function timestampToMs(s: string): number {
  const parsed = parseTimestamp(s);
  if (typeof parsed === 'string') throw new RangeError(`invalid timestamp ${quote(s)}: ${parsed}`);
  return parsed;
}

/** The canonical form `YYYY-MM-DDTHH:mm:ss.sssZ` (UTC) of a valid request timestamp. */
export function toCanonicalTimestamp(s: string): string {
  return new Date(timestampToMs(s)).toISOString();
}

// ---- Metadata and free-form JSON ------------------------------------------------------------------

const METADATA_KEY_PATTERN = new RegExp(`^[A-Za-z0-9_.-]{1,${MAX_METADATA_KEY_CHARS}}$`);

// `__proto__` matches the pattern but can never be stored: zod's records skip it and fastify refuses
// a body that contains it. Refused by name so a `metadata.__proto__` filter says why.
/** A metadata key: 1..64 of `A-Z a-z 0-9 _ . -`. */
export const MetadataKey = z
  .string()
  .regex(METADATA_KEY_PATTERN, `must be 1..${MAX_METADATA_KEY_CHARS} characters of A-Z a-z 0-9 _ . -`)
  .refine((key) => key !== '__proto__', 'is reserved');

/** Names the offending key, which zod's default message for a bad record key does not. */
function invalidMetadataKey(issue: { code?: string; input?: unknown }): string | undefined {
  if (issue.code !== 'invalid_key') return undefined;
  const key = String(issue.input);
  return `metadata key ${quote(key)} ${MetadataKey.safeParse(key).error?.issues[0]?.message ?? 'is invalid'}`;
}

function metadataOf<V extends z.ZodType<string | null>>(value: V) {
  return z
    .record(MetadataKey, value, { error: invalidMetadataKey })
    .superRefine((m, ctx) => {
      const keys = Object.keys(m).length;
      if (keys > MAX_METADATA_KEYS) {
        ctx.addIssue({
          code: 'too_big',
          origin: 'object',
          maximum: MAX_METADATA_KEYS,
          inclusive: true,
          message: `must have at most ${MAX_METADATA_KEYS} keys (got ${keys})`,
        });
      }
    })
    .meta({ maxProperties: MAX_METADATA_KEYS });
}

const MetadataValue = boundedText(0, MAX_METADATA_VALUE_BYTES);

/** String → string map for the caller's own annotations. */
export const Metadata = metadataOf(MetadataValue).describe(
  `String → string map; keys match ${METADATA_KEY_PATTERN.source}, at most ${MAX_METADATA_KEYS} keys, values at most ${MAX_METADATA_VALUE_BYTES} bytes`,
);
export type Metadata = z.infer<typeof Metadata>;

/** Metadata in a merge patch: a string sets the key, `null` deletes it, absent keys stay. */
export const MetadataPatch = metadataOf(MetadataValue.nullable()).describe(
  'Merged into the stored metadata: a string sets a key, null deletes it, keys not named are kept',
);
export type MetadataPatch = z.infer<typeof MetadataPatch>;

/**
 * The JSON-size rule: adds an issue when `value` serialised as JSON is over `maxBytes` bytes of UTF-8.
 * `limit` words the rule for the message. Every size limit on JSON goes through here.
 */
export function checkJsonSize(
  value: unknown,
  maxBytes: number,
  ctx: z.RefinementCtx,
  limit = `must be at most ${maxBytes} bytes as JSON`,
): void {
  const bytes = utf8Bytes(JSON.stringify(value));
  if (bytes <= maxBytes) return;
  ctx.addIssue({
    code: 'too_big',
    origin: 'object',
    maximum: maxBytes,
    inclusive: true,
    message: `${limit} (got ${bytes})`,
  });
}

/** Any JSON object, passed through untouched (nested values are not rebuilt). */
export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;

/** A duration as agents measure it (ms, s): any finite number ≥ 0, fractions included (2100.5). */
export const Duration = z.number().min(0);

// ---- Location ---------------------------------------------------------------------------------------

/** Where something happened: WGS84 degrees (SPEC §3.5). */
export const Location = z.strictObject({
  lat: z.number().min(-90).max(90).describe('Latitude, WGS84 degrees, -90..90'),
  lon: z.number().min(-180).max(180).describe('Longitude, WGS84 degrees, -180..180'),
  alt_m: z.number().optional().describe('Altitude in metres'),
  accuracy_m: z.number().min(0).optional().describe('Accuracy radius in metres (≥ 0)'),
  place: boundedString(1, MAX_NAME_CHARS).optional().describe('Human-readable place name'),
});
export type Location = z.infer<typeof Location>;

// ---- Tags -------------------------------------------------------------------------------------------

const TAG_PATTERN = /^[a-z0-9][a-z0-9._:/-]*$/;

/** Why `raw` does not normalise to a valid tag, or undefined when it does. */
function tagProblem(raw: string): string | undefined {
  const tag = raw.trim().toLowerCase();
  let reason: string | undefined;
  if (tag.length < MIN_TAG_CHARS || tag.length > MAX_TAG_CHARS) {
    reason = `must be ${MIN_TAG_CHARS}..${MAX_TAG_CHARS} characters after trimming`;
  } else if (!TAG_PATTERN.test(tag)) {
    reason = 'may hold only letters, digits and . _ : / - and must start with a letter or digit';
  }
  return reason && `invalid tag ${quote(raw)}: ${reason}`;
}

/** Trims and lower-cases one tag; throws a RangeError naming the tag when the result is not valid. */
export function normaliseTag(raw: string): string {
  const problem = tagProblem(raw);
  if (problem) throw new RangeError(problem);
  return raw.trim().toLowerCase();
}

/**
 * Normalises a tag list into the stored set: each tag trimmed and lower-cased, duplicates collapsed,
 * sorted ascending by code unit. Sorted rather than first-seen so that the same set always reads
 * back the same way, and in the order SQLite's BINARY collation gives (tags are ASCII).
 */
export function normaliseTags(raw: readonly string[]): string[] {
  return [...new Set(raw.map(normaliseTag))].sort();
}

/** A stored (normalised) tag. */
export const Tag = z.string().min(MIN_TAG_CHARS).max(MAX_TAG_CHARS).regex(TAG_PATTERN);

/** A tag as a client sends it: valid once trimmed and lower-cased. */
export const TagInput = z.string().superRefine((raw, ctx) => {
  const problem = tagProblem(raw);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Episode tags on input; the service stores `normaliseTags(tags)`. */
export const Tags = z
  .array(TagInput)
  .max(MAX_TAGS, `must have at most ${MAX_TAGS} tags`)
  .describe(
    `At most ${MAX_TAGS} tags. Stored normalised: trimmed, lower-cased, ${MIN_TAG_CHARS}..${MAX_TAG_CHARS} characters matching ${TAG_PATTERN.source}, duplicates collapsed, sorted ascending`,
  );
export type Tags = z.infer<typeof Tags>;

// ---- Query strings ----------------------------------------------------------------------------------

/** A number in a query string. An empty value is an error, not the 0 that `Number('')` gives. */
export function queryNumber(schema: z.ZodNumber) {
  return z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? Number.NaN : Number(v)) : v),
    schema,
  );
}

/** A query parameter that may be repeated (`?tag=a&tag=b`); a single value becomes a one-item list. */
export function repeatable<T extends z.ZodType>(item: T, max: number) {
  return z.preprocess(
    (v) => (v === undefined || Array.isArray(v) ? v : [v]),
    z.array(item).min(1).max(max, `may be given at most ${max} times`),
  );
}

export const ListLimit = queryNumber(
  z.number({ error: 'must be an integer' }).int('must be an integer').min(1).max(MAX_LIST_LIMIT),
)
  .default(DEFAULT_LIST_LIMIT)
  .describe(`Page size, 1..${MAX_LIST_LIMIT}`);

export const Cursor = z
  .string()
  .min(1)
  .max(MAX_CURSOR_CHARS)
  .describe('Opaque cursor: the next_cursor of the previous page');
