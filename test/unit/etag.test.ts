import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../src/domain/errors.js';
import { etagOf, ifMatchOf, ifNoneMatchOf } from '../../src/http/etag.js';

// RFC 9110 §13.1.1–2: If-Match compares strongly, If-None-Match weakly; both take `*` or a list.

const request = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest;
const allows = (ifMatch: string, version: number) =>
  ifMatchOf(request({ 'if-match': ifMatch }))?.allows(version);
const hits = (ifNoneMatch: string, version: number) =>
  ifNoneMatchOf(request({ 'if-none-match': ifNoneMatch }))(version);

describe('ETags', () => {
  it('etagOf - a version - a strong tag', () => {
    expect(etagOf(3)).toBe('"3"');
  });

  it.each([
    ['"3"', 3, true],
    ['"2"', 3, false],
    ['"1", "3"', 3, true],
    ['"1","2" , "3"', 3, true],
    [' , "3",, ', 3, true],
    ['*', 3, true],
    ['*', 1, true],
    ['W/"3"', 3, false], // a weak tag never matches strongly
    ['W/"3", "3"', 3, true],
    ['"abc"', 3, false],
    ['""', 3, false],
  ])('If-Match %s on version %s - %s', (header, version, expected) => {
    expect(allows(header, version)).toBe(expected);
  });

  it('If-Match absent - no precondition', () => {
    expect(ifMatchOf(request({}))).toBeUndefined();
  });

  it.each([
    ['"3"', 3, true],
    ['W/"3"', 3, true], // weak comparison
    ['"1", W/"3"', 3, true],
    ['"1", "2"', 3, false],
    ['*', 7, true],
  ])('If-None-Match %s on version %s - %s', (header, version, expected) => {
    expect(hits(header, version)).toBe(expected);
  });

  it('If-None-Match absent - never a hit', () => {
    expect(ifNoneMatchOf(request({}))(1)).toBe(false);
  });

  it.each(['3', 'not-an-etag', '"3" "4"', '"3";', 'W/3', '**', '"unterminated', '"a"b"'])(
    'malformed list %s - 400 naming the header',
    (header) => {
      for (const [name, parse] of [
        ['if-match', () => ifMatchOf(request({ 'if-match': header }))],
        ['if-none-match', () => ifNoneMatchOf(request({ 'if-none-match': header }))],
      ] as const) {
        let thrown: unknown;
        try {
          parse();
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(InvalidRequest);
        expect((thrown as InvalidRequest).errors[0]).toMatchObject({ in: 'headers', path: `/${name}` });
      }
    },
  );
});
