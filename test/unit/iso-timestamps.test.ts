import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iso } from '../../src/storage/libsql/episode-rows.js';

// Stored times (ms since the epoch) are answered as RFC 3339 UTC with milliseconds, exactly as
// Date#toISOString writes them, over the whole range a request may carry (years 0000..9999).

const EARLIEST = Date.parse('0000-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

describe('iso', () => {
  it.each([EARLIEST, LATEST, 0, -1, 1, 86_399_999, 86_400_000, Date.parse('2024-02-29T23:59:59.999Z')])(
    'iso(%s) - the same text as Date#toISOString',
    (ms) => {
      expect(iso(ms)).toBe(new Date(ms).toISOString());
    },
  );

  it('any time of the accepted range, in any order - the same text as Date#toISOString', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: EARLIEST, max: LATEST }), { minLength: 1, maxLength: 50 }),
        (times) => {
          for (const ms of times) expect(iso(ms)).toBe(new Date(ms).toISOString());
        },
      ),
      { numRuns: 500, seed: 20261130 },
    );
  });
});
