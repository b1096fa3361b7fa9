import type { Database } from '../../db/database.js';
import { DbError } from '../../db/errors.js';
import { CLAIM, labelled, type SqlValue, type Statement, sql } from '../../db/types.js';
import { IdempotencyKeyReused } from '../../domain/errors.js';
import type { StoredClaim, WriteClaim, WriteClaimRepository, Written } from '../types.js';
import { type Failures, rethrowAsDomainError } from './statements.js';
import { tenantScope } from './where.js';

// Write claims (migration 2): the first statement of every write transaction, and what a retry or a replay
// reads back. See WriteClaim.

/** A client's Idempotency-Key is kept 24 h (SPEC §2). */
export const CLIENT_CLAIM_TTL_MS = 24 * 60 * 60 * 1000;
/** An internal write id only has to outlive the retries of its own write (deadline × attempts + backoff). */
export const INTERNAL_CLAIM_TTL_MS = 15 * 60 * 1000;
/** Expired claims deleted per prune statement: bounded, so one prune never holds the writer for long. */
const PRUNE_BATCH = 5_000;

/**
 * What a claimed write answers. `known`: computed before the transaction (a created record); stored in the
 * claim only for a client key. `computed`: only the database knows it (auto-assigned numbers, counts): the
 * given statement (see `claimResultUpdate`, placed in the transaction by the repository) stores it in the
 * claim and returns it, so the first answer and any replay are the same bytes.
 */
export type ClaimedResult<T> = { known: T } | { computed: Statement };

function claimInsert(tenant: string, claim: WriteClaim, result: string | null): Statement {
  const now = Date.now();
  const ttl = claim.client ? CLIENT_CLAIM_TTL_MS : INTERNAL_CLAIM_TTL_MS;
  return labelled(
    { code: CLAIM },
    sql(
      'INSERT INTO idempotency_keys (tenant, key, fingerprint, result, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      tenant,
      claim.key,
      claim.client ? (claim.fingerprints[0] ?? '') : '',
      result,
      now,
      now + ttl,
    ),
  );
}

/**
 * Stores the write's result, computed in SQL by `expression` (JSON text), in its claim and returns it as
 * column `result`. Goes where the repository needs it in the transaction — usually last.
 */
export function claimResultUpdate(
  tenant: string,
  claim: WriteClaim,
  expression: string,
  ...args: SqlValue[]
): Statement {
  const where = tenantScope(tenant).and('key = ?', claim.key);
  return sql(
    `UPDATE idempotency_keys SET result = (${expression}) WHERE ${where} RETURNING result`,
    ...args,
    ...where.args,
  );
}

/**
 * Runs one write transaction that starts with its claim: `[claim, ...body]`. When the claim is already
 * there — this write committed in an earlier attempt whose answer was lost, or a request with the same
 * client key committed — the stored result is recalled (through the write path, so neither an embedded
 * replica nor a read replica can answer stale) instead of failing; a client key used with another request
 * is IdempotencyKeyReused. Other failures become the domain errors of `failures`.
 */
export async function runClaimed<T>(
  db: Database,
  tenant: string,
  claim: WriteClaim,
  body: readonly Statement[],
  result: ClaimedResult<T>,
  failures: Failures<string>,
): Promise<Written<T>> {
  const stored = 'known' in result && claim.client ? JSON.stringify(result.known) : null;
  const stmts = [claimInsert(tenant, claim, stored), ...body];
  for (let attempt = 1; ; attempt++) {
    let recalled: StoredClaim | null;
    try {
      const results = await db.write(stmts);
      if ('known' in result) return { value: result.known, replayed: false };
      return {
        value: parseResult<T>(results[stmts.indexOf(result.computed)]?.rows[0]?.result),
        replayed: false,
      };
    } catch (err) {
      if (!(err instanceof DbError && err.label?.code === CLAIM)) rethrowAsDomainError(err, failures);
      recalled = await recall(db, tenant, claim.key).catch((recallErr: unknown) => {
        // The claim is there, so the write has committed (an earlier attempt, or the request with the same
        // key): a failure to read its result back must not say that the write failed.
        if (!(recallErr instanceof DbError)) throw recallErr;
        throw new DbError(
          'outcome_unknown',
          'the write committed; its result could not be read back',
          recallErr.kind,
          {
            cause: recallErr,
          },
        );
      });
    }
    // An expired client key that was not pruned yet has just been deleted: the request runs as a new one.
    if (!recalled && attempt < 3) continue;
    if (!recalled) throw new Error(`claim ${claim.key} vanished between its conflict and its recall`);
    if (claim.client && !claim.fingerprints.includes(recalled.fingerprint)) throw new IdempotencyKeyReused();
    const value =
      recalled.result === null && 'known' in result ? result.known : parseResult<T>(recalled.result);
    return { value, replayed: claim.client };
  }
}

function parseResult<T>(json: unknown): T {
  if (typeof json !== 'string') throw new Error('a claimed write has no stored result');
  return JSON.parse(json) as T;
}

/** The live claim under `key`, read through the write path; an expired one is deleted and null returned. */
async function recall(db: Database, tenant: string, key: string): Promise<StoredClaim | null> {
  const where = tenantScope(tenant).and('key = ?', key);
  const [found] = await db.readLatest(
    `SELECT fingerprint, result, expires_at FROM idempotency_keys WHERE ${where}`,
    where.args,
  );
  if (!found) return null;
  if (Number(found.expires_at) > Date.now()) {
    return {
      fingerprint: String(found.fingerprint),
      result: found.result === null ? null : String(found.result),
    };
  }
  const expired = tenantScope(tenant).and('key = ?', key).and('expires_at <= ?', Date.now());
  await db.write([sql(`DELETE FROM idempotency_keys WHERE ${expired}`, ...expired.args)]);
  return null;
}

export class LibsqlWriteClaimRepository implements WriteClaimRepository {
  constructor(private readonly db: Database) {}

  async find(tenant: string, key: string): Promise<StoredClaim | null> {
    const where = tenantScope(tenant).and('key = ?', key).and('expires_at > ?', Date.now());
    const [row] = await this.db.read(
      `SELECT fingerprint, result FROM idempotency_keys WHERE ${where}`,
      where.args,
    );
    if (!row) return null;
    return { fingerprint: String(row.fingerprint), result: row.result === null ? null : String(row.result) };
  }

  // Housekeeping across tenants, so the one query that is not tenant-scoped.
  async prune(): Promise<number> {
    let total = 0;
    for (;;) {
      const [deleted] = await this.db.write([
        sql(
          `DELETE FROM idempotency_keys WHERE (tenant, key) IN
             (SELECT tenant, key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`,
          Date.now(),
          PRUNE_BATCH,
        ),
      ]);
      const n = deleted?.changes ?? 0;
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }
}
