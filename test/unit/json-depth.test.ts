import { describe, expect, it } from 'vitest';
import { scanJsonText } from '../../src/http/json-depth.js';

// SPEC §6: JSON nesting depth ≤ 32, judged on the text before it is parsed (a depth bomb costs nothing).

const nest = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

const jsonNestingExceeds = (text: string, limit: number) => scanJsonText(text, limit).tooDeep;

describe('scanJsonText', () => {
  it('jsonNestingExceeds - 32 levels - false; 33 - true (arrays, objects, mixed)', () => {
    expect(jsonNestingExceeds(nest(32), 32)).toBe(false);
    expect(jsonNestingExceeds(nest(33), 32)).toBe(true);
    const objects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
    expect(jsonNestingExceeds(objects(32), 32)).toBe(false);
    expect(jsonNestingExceeds(objects(33), 32)).toBe(true);
    expect(jsonNestingExceeds(`{"a":[${nest(30)}]}`, 32)).toBe(false);
    expect(jsonNestingExceeds(`{"a":[${nest(31)}]}`, 32)).toBe(true);
  });

  it('jsonNestingExceeds - siblings - depth, not count, matters', () => {
    expect(jsonNestingExceeds(`[${Array.from({ length: 1000 }, () => nest(31)).join(',')}]`, 32)).toBe(false);
  });

  it('jsonNestingExceeds - brackets inside strings, with escaped quotes and backslashes - not counted', () => {
    const inString = JSON.stringify({ text: `${'['.repeat(100)} "quoted" \\ ${'{'.repeat(100)}` });
    expect(jsonNestingExceeds(inString, 1)).toBe(false);
    expect(jsonNestingExceeds(JSON.stringify(['\\', nest(31)]), 32)).toBe(false);
    expect(jsonNestingExceeds(JSON.stringify(['\\"[[[[', '"']), 1)).toBe(false);
  });

  it('jsonNestingExceeds - scalars and empty text - false', () => {
    for (const text of ['', '1', '"[[["', 'null', 'true']) expect(jsonNestingExceeds(text, 0)).toBe(false);
  });

  it('scanJsonText - keys - one per colon outside strings, repeated keys counted twice', () => {
    expect(scanJsonText('{"a":1,"b":{"c":"x:y","d":[{"e":null}]}}', 32).keys).toBe(5);
    expect(scanJsonText('{"a":1,"a":2}', 32).keys).toBe(2);
    expect(scanJsonText('["a:b", "\\":", {}]', 32).keys).toBe(0);
  });
});
