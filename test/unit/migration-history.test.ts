import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/storage/migrations.js';

// A landed migration is never edited: databases that applied it would differ from new ones. Each one's
// text is pinned here; a schema change is a new migration.

const PINNED: Record<number, string> = {
  1: '48eb44bb6278e9fbd73fd983252f09d8af8ba92403a7cdf22fd74debace30b7e',
};

describe('migration history', () => {
  it.each(Object.entries(PINNED))(
    'migration %s - its version, name and statements - byte-for-byte as landed',
    (version, hash) => {
      const migration = MIGRATIONS.find((m) => m.version === Number(version));
      expect(migration).toBeDefined();
      const text = JSON.stringify({
        version: migration?.version,
        name: migration?.name,
        statements: migration?.statements,
      });
      expect(createHash('sha256').update(text).digest('hex')).toBe(hash);
    },
  );

  it('versions - numbered 1..n without gaps or repeats', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });
});
