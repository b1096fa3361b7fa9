import type { FastifyRequest } from 'fastify';
import { InvalidRequest } from '../domain/errors.js';
import type { VersionPrecondition } from '../services/common/optimistic.js';

// Entity tags (RFC 9110 §8.8.3, §13.1.1–2): a record's ETag is its version, `"<version>"`, a strong tag.

/** The ETag of a record version (SPEC §2). */
export const etagOf = (version: number): string => `"${version}"`;

interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** `*`, or the entity tags of an If-Match / If-None-Match list. */
type TagCondition = { any: true } | { any: false; tags: EntityTag[] };

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
const ENTITY_TAG = /(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/y;

/** Parses a `*` or a comma-separated list of entity tags (empty list elements allowed, RFC 9110 §5.6.1). */
function parseCondition(raw: string, header: string): TagCondition {
  if (raw.trim() === '*') return { any: true };
  const invalid = () =>
    new InvalidRequest(400, [
      {
        in: 'headers',
        path: `/${header}`,
        message: 'must be * or a comma-separated list of entity tags such as "3", W/"3"',
      },
    ]);
  const tags: EntityTag[] = [];
  let at = 0;
  const skip = (pattern: RegExp) => {
    while (at < raw.length && pattern.test(raw[at] as string)) at++;
  };
  skip(/[\s,]/);
  while (at < raw.length) {
    ENTITY_TAG.lastIndex = at;
    const match = ENTITY_TAG.exec(raw);
    if (!match) throw invalid();
    tags.push({ weak: match[1] !== undefined, opaque: match[2] as string });
    at = ENTITY_TAG.lastIndex;
    skip(/\s/);
    if (at < raw.length && raw[at] !== ',') throw invalid();
    skip(/[\s,]/);
  }
  return { any: false, tags };
}

/**
 * If-Match as a precondition on the version a change starts from: `*` allows any existing version; a
 * list allows the versions it names with STRONG comparison (a weak tag never matches, RFC 9110 §13.1.1).
 * Undefined when the header is absent.
 */
export function ifMatchOf(request: FastifyRequest): VersionPrecondition | undefined {
  const raw = request.headers['if-match'];
  if (raw === undefined) return undefined;
  const condition = parseCondition(raw, 'if-match');
  return {
    allows: (version) => condition.any || condition.tags.some((t) => !t.weak && t.opaque === String(version)),
  };
}

/**
 * If-None-Match as a test of the current version (WEAK comparison, RFC 9110 §13.1.2): true when it names
 * that version, or is `*` (any current representation). A GET answers 304 then. Parsed before the read,
 * so a malformed header is a 400 whatever the record.
 */
export function ifNoneMatchOf(request: FastifyRequest): (version: number) => boolean {
  const raw = request.headers['if-none-match'];
  if (raw === undefined) return () => false;
  const condition = parseCondition(raw, 'if-none-match');
  return (version) => condition.any || condition.tags.some((t) => t.opaque === String(version));
}
