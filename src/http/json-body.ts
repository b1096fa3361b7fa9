import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { type FieldError, InvalidRequest, pointerOf } from '../domain/errors.js';
import { MAX_JSON_DEPTH } from '../domain/limits.js';
import { scanJsonText } from './json-depth.js';

// The one reader of JSON request bodies, for every route. JSON.parse alone would accept, and silently alter,
// what this refuses: invalid UTF-8 (read as U+FFFD), a number beyond the range of a double (1e400 read as
// Infinity, stored as null; 1e-400 read as 0), an integer literal a double cannot hold exactly
// (12345678901234567891), and a repeated key (the last one wins). Each is a 400 that names the field.

type PathItem = string | number;

/** A body the service cannot read as the client wrote it; `path` is the JSON Pointer of the field. */
class JsonBodyError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly code: 'MALFORMED_JSON' | 'VALIDATION_FAILED',
  ) {
    super(message);
  }
}

/** The input ended inside a value (used to locate invalid UTF-8: see `locateInvalidUtf8`). */
class EndOfInput extends Error {
  constructor(
    readonly path: string,
    readonly inString: 'key' | 'value' | false,
  ) {
    super('unexpected end of the JSON text');
  }
}

const HEX4 = /^[0-9a-fA-F]{4}$/;
// The characters after a backslash other than `u`: " \ / b f n r t.
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LITERALS = [
  ['true', true],
  ['false', false],
  ['null', null],
] as const;

/**
 * True when an integer literal is the shortest text of the double it reads as (so it reads back the same):
 * 203454882460966850000 is, as JavaScript itself writes that double; 12345678901234567891 is not.
 */
function integerReadsBack(literal: string, value: number): boolean {
  const digits = literal.replace(/^-/, '').replace(/^0+(?=\d)/, '');
  const significant = digits.replace(/0+$/, '') || '0';
  const [mantissa = '', exponent = ''] = Math.abs(value).toExponential().split('e');
  return mantissa.replace('.', '') === significant && Number(exponent) === digits.length - 1;
}

/**
 * Why a number literal cannot be stored as written, or undefined when its double is what it says: beyond
 * the range of a double (1e400), below it (1e-400 reads as 0), or an integer a double cannot hold exactly.
 * A decimal fraction reads as the nearest double, as everywhere (0.10000000000000001 is 0.1).
 */
function numberProblem(literal: string, value: number): string | undefined {
  if (!Number.isFinite(value)) return `number ${literal} is beyond the range of a double`;
  const mantissa = literal.replace(/[eE].*$/, '');
  if (value === 0 && /[1-9]/.test(mantissa))
    return `number ${literal} is too small for a double (reads as 0)`;
  if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(value) && !integerReadsBack(literal, value)) {
    return `integer ${literal} cannot be stored exactly (a double holds it as ${value}); send it as a string`;
  }
  return undefined;
}

class Parser {
  private pos = 0;
  private readonly path: PathItem[] = [];

  constructor(private readonly text: string) {}

  parse(): unknown {
    this.skipWhitespace();
    if (this.pos >= this.text.length) throw this.syntax('the body is empty');
    const value = this.value(0);
    this.skipWhitespace();
    if (this.pos < this.text.length) throw this.syntax('unexpected text after the JSON value');
    return value;
  }

  private value(depth: number): unknown {
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b /* { */) return this.object(depth + 1);
    if (c === 0x5b /* [ */) return this.array(depth + 1);
    if (c === 0x22 /* " */) return this.string('value');
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    if (this.pos >= this.text.length) throw new EndOfInput(pointerOf(this.path), false);
    throw this.syntax('expected a JSON value');
  }

  private object(depth: number): Record<string, unknown> {
    this.enter(depth);
    const object: Record<string, unknown> = {};
    this.pos++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x7d /* } */) {
      this.pos++;
      return object;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 0x22) throw this.unexpected('expected a quoted key');
      const key = this.string('key');
      this.checkKey(object, key);
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x3a /* : */) throw this.unexpected('expected ":" after a key');
      this.pos++;
      this.skipWhitespace();
      this.path.push(key);
      object[key] = this.value(depth);
      this.path.pop();
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x7d) return object;
      if (c !== 0x2c /* , */) {
        this.pos--;
        throw this.unexpected('expected "," or "}"');
      }
      this.skipWhitespace();
    }
  }

  private array(depth: number): unknown[] {
    this.enter(depth);
    const array: unknown[] = [];
    this.pos++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x5d /* ] */) {
      this.pos++;
      return array;
    }
    for (;;) {
      this.path.push(array.length);
      array.push(this.value(depth));
      this.path.pop();
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return array;
      if (c !== 0x2c) {
        this.pos--;
        throw this.unexpected('expected "," or "]"');
      }
      this.skipWhitespace();
    }
  }

  private string(role: 'key' | 'value'): string {
    const text = this.text;
    const start = this.pos + 1;
    let escaped = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22 /* " */) {
        this.pos = i + 1;
        // JSON.parse decodes the escapes; their syntax was checked on the way here.
        return escaped ? (JSON.parse(text.slice(start - 1, i + 1)) as string) : text.slice(start, i);
      }
      if (c < 0x20) {
        this.pos = i;
        throw this.syntax(`a control character (U+${c.toString(16).padStart(4, '0')}) must be escaped`);
      }
      if (c === 0x5c /* \ */) {
        escaped = true;
        const next = text.charCodeAt(i + 1);
        if (next === 0x75 /* u */) {
          if (i + 6 > text.length) break;
          if (!HEX4.test(text.slice(i + 2, i + 6))) {
            this.pos = i;
            throw this.syntax('invalid \\u escape: four hexadecimal digits expected');
          }
          i += 5;
        } else if (SIMPLE_ESCAPES.has(next)) {
          i++;
        } else {
          if (i + 1 >= text.length) break;
          this.pos = i;
          throw this.syntax('invalid escape sequence');
        }
      }
    }
    throw new EndOfInput(pointerOf(this.path), role);
  }

  private number(): number {
    const start = this.pos;
    if (this.text.charCodeAt(this.pos) === 0x2d /* - */) this.pos++;
    const integer = this.digits();
    let valid = integer > 0 && !(integer > 1 && this.text.charCodeAt(this.pos - integer) === 0x30);
    if (valid && this.text.charCodeAt(this.pos) === 0x2e /* . */) {
      this.pos++;
      valid = this.digits() > 0;
    }
    if (valid && (this.text.charCodeAt(this.pos) | 0x20) === 0x65 /* e or E */) {
      this.pos++;
      const sign = this.text.charCodeAt(this.pos);
      if (sign === 0x2b /* + */ || sign === 0x2d /* - */) this.pos++;
      valid = this.digits() > 0;
    }
    if (!valid) {
      if (this.pos >= this.text.length) throw new EndOfInput(pointerOf(this.path), false);
      this.pos = start;
      throw this.syntax('invalid number (no leading zeros, digits after "." and "e")');
    }
    const literal = this.text.slice(start, this.pos);
    const value = Number(literal);
    // Only a zero, a non-finite value or a literal of 16+ characters can differ from what was written.
    if (value === 0 || !Number.isFinite(value) || literal.length > 15) {
      const problem = numberProblem(literal, value);
      if (problem) throw new JsonBodyError(pointerOf(this.path), problem, 'VALIDATION_FAILED');
    }
    return value;
  }

  /** Skips decimal digits; returns how many. */
  private digits(): number {
    const from = this.pos;
    for (
      let c = this.text.charCodeAt(this.pos);
      c >= 0x30 && c <= 0x39;
      c = this.text.charCodeAt(++this.pos)
    );
    return this.pos - from;
  }

  private checkKey(object: Record<string, unknown>, key: string): void {
    const at = pointerOf([...this.path, key]);
    // Prototype poisoning (as fastify's default parser refuses it): never a key a record can hold.
    if (key === '__proto__' || (key === 'prototype' && this.path.at(-1) === 'constructor')) {
      throw new JsonBodyError(at, `the key "${key}" is not allowed`, 'VALIDATION_FAILED');
    }
    if (Object.hasOwn(object, key)) {
      throw new JsonBodyError(
        at,
        'appears twice in the same object; which one is meant?',
        'VALIDATION_FAILED',
      );
    }
  }

  private enter(depth: number): void {
    if (depth > MAX_JSON_DEPTH) {
      throw new JsonBodyError(
        pointerOf(this.path),
        `JSON nesting is deeper than ${MAX_JSON_DEPTH} levels`,
        'VALIDATION_FAILED',
      );
    }
  }

  private skipWhitespace(): void {
    const text = this.text;
    let i = this.pos;
    for (
      let c = text.charCodeAt(i);
      c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
      c = text.charCodeAt(++i)
    );
    this.pos = i;
  }

  private unexpected(expected: string): Error {
    if (this.pos >= this.text.length) return new EndOfInput(pointerOf(this.path), false);
    return this.syntax(expected);
  }

  private syntax(message: string): JsonBodyError {
    const near = JSON.stringify(this.text.slice(this.pos, this.pos + 12));
    return new JsonBodyError(
      pointerOf(this.path),
      `malformed JSON at character ${this.pos}: ${message} (found ${near})`,
      'MALFORMED_JSON',
    );
  }
}

/** Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const trailing =
      lead >= 0xc2 && lead <= 0xdf
        ? 1
        : lead >= 0xe0 && lead <= 0xef
          ? 2
          : lead >= 0xf0 && lead <= 0xf4
            ? 3
            : 0;
    if (trailing === 0 || i + trailing >= bytes.length) return i;
    // The second byte's range excludes overlong forms, UTF-16 surrogates and code points above U+10FFFF.
    const second = bytes[i + 1] as number;
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    if (second < low || second > high) return i;
    for (let k = 2; k <= trailing; k++) if (((bytes[i + k] as number) & 0xc0) !== 0x80) return i;
    i += trailing + 1;
  }
  return -1;
}

/** Names the field whose text holds the first invalid UTF-8 byte, by parsing the valid text before it. */
function locateInvalidUtf8(body: Buffer): JsonBodyError {
  const offset = firstInvalidUtf8(body);
  const message = `is not valid UTF-8 (byte 0x${body[offset]?.toString(16)} at offset ${offset})`;
  try {
    new Parser(body.toString('utf8', 0, offset)).parse();
  } catch (err) {
    if (err instanceof EndOfInput && err.inString === 'value') {
      return new JsonBodyError(err.path, `the string ${message}`, 'MALFORMED_JSON');
    }
    if (err instanceof EndOfInput && err.inString === 'key') {
      return new JsonBodyError(err.path, `a key of this object ${message}`, 'MALFORMED_JSON');
    }
    if (err instanceof EndOfInput)
      return new JsonBodyError(err.path, `the body ${message}`, 'MALFORMED_JSON');
    if (err instanceof JsonBodyError) return err; // an earlier problem in the valid part comes first
  }
  return new JsonBodyError('/', `the body ${message}`, 'MALFORMED_JSON');
}

// A number literal that might not read back as written: 16+ digits in a row, or a 3-digit exponent. The
// test runs on the whole text, strings included; a false alarm only costs the slower exact parse.
const RISKY_NUMBER = /\d{16}|[eE][+-]?\d{3}/;
/** Keys in `value` (all levels), or -1 when it is too deep or holds a key `Parser` refuses. */
function keysIn(value: unknown, depth: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (depth > MAX_JSON_DEPTH) return -1;
  const children = Array.isArray(value) ? value : Object.values(value);
  let keys = 0;
  if (!Array.isArray(value)) {
    if (Object.hasOwn(value, '__proto__')) return -1;
    const ctor: unknown = Object.hasOwn(value, 'constructor')
      ? (value as { constructor: unknown }).constructor
      : null;
    if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return -1;
    keys = children.length;
  }
  for (const child of children) {
    const inner = keysIn(child, depth + 1);
    if (inner < 0) return -1;
    keys += inner;
  }
  return keys;
}

/**
 * JSON.parse's value when it is provably what `Parser` returns — no risky number, no repeated key (the
 * keys in the text and in the value agree), nothing too deep or reserved — else undefined. JSON.parse is
 * several times faster than any parser written in JavaScript; this keeps the exact one for the rare body.
 */
function quickParse(text: string, keysInText: number): unknown {
  if (RISKY_NUMBER.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined; // `Parser` says where and why
  }
  return keysIn(value, 1) === keysInText ? value : undefined;
}

/**
 * Parses a JSON request body exactly: throws an InvalidRequest (400) naming the field for anything that
 * would not read back as written, and MALFORMED_JSON (with the place) for text that is not JSON.
 */
export function parseJsonBody(body: Buffer): unknown {
  try {
    if (!isUtf8(body)) throw locateInvalidUtf8(body);
    let text = body.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark is ignored (RFC 8259 §8.1)
    // A depth bomb never reaches JSON.parse, which would build every level first (seconds for 11 MB).
    const scan = scanJsonText(text, MAX_JSON_DEPTH);
    const quick = scan.tooDeep ? undefined : quickParse(text, scan.keys);
    if (quick !== undefined) return quick;
    try {
      return new Parser(text).parse();
    } catch (err) {
      if (err instanceof EndOfInput) {
        throw new JsonBodyError(
          err.path,
          'malformed JSON: the body ends in the middle of a value',
          'MALFORMED_JSON',
        );
      }
      throw err;
    }
  } catch (err) {
    if (!(err instanceof JsonBodyError)) throw err;
    const error: FieldError = { in: 'body', path: err.path, message: err.message };
    throw new InvalidRequest(400, [error], err.code);
  }
}

/**
 * JSON only — `application/json` and, for PATCH, `application/merge-patch+json` — read by `parseJsonBody`,
 * nesting limit included (SPEC §6). Any other media type is a 415.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/merge-patch+json'],
    { parseAs: 'buffer' },
    (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as Buffer));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );
}
