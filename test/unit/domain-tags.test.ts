import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseTag, normaliseTags, Tag, TagInput, Tags } from '../../src/domain/common.js';
import { EpisodeCreate, EpisodePatch } from '../../src/domain/episode.js';
import { EpisodeListQuery } from '../../src/domain/episode-list.js';
import { MAX_TAG_CHARS, MAX_TAGS } from '../../src/domain/limits.js';

const minimalEpisode = { task_type: 'debugging', task_description: 'fix it', context: { domain: 'web' } };

describe('normaliseTag', () => {
  it('padded mixed-case tag: trimmed and lower-cased', () => {
    expect(normaliseTag('  Rust-Lang \t')).toBe('rust-lang');
  });

  it('every allowed punctuation mark: kept', () => {
    expect(normaliseTag('a0._:/-z')).toBe('a0._:/-z');
  });

  it('2 characters after trimming: accepted', () => {
    expect(normaliseTag(' ab ')).toBe('ab');
  });

  it('1 character after trimming: rejected with a message naming the tag', () => {
    expect(() => normaliseTag(' a ')).toThrow(/invalid tag " a ": must be 2\.\.100 characters/);
  });

  it(`${MAX_TAG_CHARS} characters: accepted`, () => {
    const tag = 'a'.repeat(MAX_TAG_CHARS);
    expect(normaliseTag(` ${tag} `)).toBe(tag);
  });

  it(`${MAX_TAG_CHARS + 1} characters: rejected`, () => {
    expect(() => normaliseTag('a'.repeat(MAX_TAG_CHARS + 1))).toThrow(RangeError);
  });

  it.each([
    ['inner space', 'foo bar'],
    ['leading punctuation', '-foo'],
    ['leading underscore', '_foo'],
    ['non-ASCII letter', 'café'],
    ['empty', ''],
    ['blank', '   '],
  ])('%s: rejected with a message naming the tag', (_, raw) => {
    expect(() => normaliseTag(raw)).toThrow(`invalid tag ${JSON.stringify(raw)}`);
  });

  it('huge invalid tag: message quotes only its beginning', () => {
    const raw = `${'x'.repeat(10_000)} y`;
    expect(() => normaliseTag(raw)).toThrow(/^invalid tag "x{60}…": /);
  });
});

describe('normaliseTags', () => {
  it('duplicates after normalisation: collapse to one', () => {
    expect(normaliseTags(['Foo', 'foo ', ' FOO'])).toEqual(['foo']);
  });

  it('unsorted input: sorted ascending by code unit', () => {
    expect(normaliseTags(['zeta', 'Alpha', '10', '1a', 'a-b', 'a.b'])).toEqual([
      '10',
      '1a',
      'a-b',
      'a.b',
      'alpha',
      'zeta',
    ]);
  });

  it('empty list: empty set', () => {
    expect(normaliseTags([])).toEqual([]);
  });

  it('one invalid tag among valid ones: rejected naming it', () => {
    expect(() => normaliseTags(['ok', 'not ok'])).toThrow('invalid tag "not ok"');
  });

  it('any valid raw tags: result is a valid, sorted set and normalising again changes nothing', () => {
    const rawTag = fc
      .tuple(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{1,20}$/), fc.constantFrom('', ' ', '\t', '  '))
      .map(([tag, pad]) => `${pad}${tag}${pad}`);
    fc.assert(
      fc.property(fc.array(rawTag, { maxLength: 20 }), (raw) => {
        const once = normaliseTags(raw);
        expect(normaliseTags(once)).toEqual(once);
        expect(new Set(once).size).toBe(once.length);
        expect([...once].sort()).toEqual(once);
        for (const tag of once) expect(Tag.safeParse(tag).success).toBe(true);
      }),
    );
  });
});

describe('Tags schema', () => {
  it('raw tags: validated but not rewritten (the service normalises)', () => {
    expect(Tags.parse([' Foo ', 'foo'])).toEqual([' Foo ', 'foo']);
  });

  it(`${MAX_TAGS} tags: accepted`, () => {
    const tags = Array.from({ length: MAX_TAGS }, (_, i) => `t${i}`);
    expect(Tags.safeParse(tags).success).toBe(true);
  });

  it(`${MAX_TAGS + 1} tags: rejected`, () => {
    const tags = Array.from({ length: MAX_TAGS + 1 }, (_, i) => `t${i}`);
    expect(Tags.safeParse(tags).error?.issues[0]?.message).toBe(`must have at most ${MAX_TAGS} tags`);
  });

  it('invalid tag in an episode: rejected at its index with a message naming it', () => {
    const issues = EpisodeCreate.safeParse({ ...minimalEpisode, tags: ['ok', 'x', 'fine'] }).error?.issues;
    expect(issues).toEqual([
      expect.objectContaining({
        path: ['tags', 1],
        message: 'invalid tag "x": must be 2..100 characters after trimming',
      }),
    ]);
  });

  it('invalid tag in a patch: rejected at its index', () => {
    expect(EpisodePatch.safeParse({ tags: ['has space'] }).error?.issues[0]?.path).toEqual(['tags', 0]);
  });

  it('non-string tag: rejected', () => {
    expect(TagInput.safeParse(12).success).toBe(false);
  });

  it('stored Tag schema: un-normalised tag rejected', () => {
    expect(Tag.safeParse('Foo').success).toBe(false);
    expect(Tag.safeParse(' foo').success).toBe(false);
  });

  it('context.tags: free-form and kept exactly as given', () => {
    const context = { domain: 'web', tags: ['Mixed Case!', ' x '] };
    expect(EpisodeCreate.parse({ ...minimalEpisode, context }).context.tags).toEqual(['Mixed Case!', ' x ']);
  });

  it('tag list filter: a single value becomes a list, an invalid one is rejected at its index', () => {
    expect(EpisodeListQuery.parse({ tag: 'Rust' }).tag).toEqual(['Rust']);
    expect(EpisodeListQuery.safeParse({ tag: ['ok', '!'] }).error?.issues[0]?.path).toEqual(['tag', 1]);
  });
});
