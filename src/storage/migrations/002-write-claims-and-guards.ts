import type { Migration } from './migration.js';

const GUARD_CODES_OF_MIGRATION_1 = [
  'episode_not_found',
  'version_mismatch',
  'episode_already_completed',
  'episode_completed',
  'step_limit_exceeded',
  'embedding_dimension_mismatch',
];

/**
 * Guards fail closed, and every write carries a claim:
 * - one guard view whose one trigger aborts whenever the inserted condition IS NOT 1 (false or NULL alike);
 *   the guard's code lives on the statement in TypeScript, so a new guard needs no migration and an
 *   unknown one cannot pass silently (the per-code triggers of migration 1 let a code without a trigger
 *   through);
 * - `idempotency_keys` becomes the table of write claims: a client's Idempotency-Key or an internal write
 *   id, with the write's result where a replay needs it, and an expiry. Existing keys are carried over with
 *   their remembered response body as the result (what a replay answers), their fingerprint (a replay offers
 *   the fingerprint of the rule they were made with too) and 24 h from their creation.
 */
export const writeClaimsAndGuards: Migration = {
  version: 2,
  name: 'write claims (idempotency_keys with results and expiry), one fail-closed guard',
  statements: [
    ...GUARD_CODES_OF_MIGRATION_1.map((code) => `DROP TRIGGER engram_assert_${code}`),
    'DROP VIEW engram_assert',
    'CREATE VIEW engram_guard AS SELECT 1 AS ok',
    `CREATE TRIGGER engram_guard_fails_closed INSTEAD OF INSERT ON engram_guard
       WHEN NEW.ok IS NOT 1 BEGIN SELECT RAISE(ABORT, 'ENGRAM_GUARD'); END`,
    `CREATE TABLE write_claims (
        tenant TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        result TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, key)
      ) WITHOUT ROWID`,
    `INSERT INTO write_claims (tenant, key, fingerprint, result, created_at, expires_at)
       SELECT tenant, key, fingerprint, body, created_at, created_at + 86400000
       FROM idempotency_keys`,
    'DROP TABLE idempotency_keys',
    'ALTER TABLE write_claims RENAME TO idempotency_keys',
    'CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at)',
  ],
};
