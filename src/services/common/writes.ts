import { v7 as uuidv7 } from 'uuid';
import { IdempotencyKeyReused } from '../../domain/errors.js';
import type { WriteClaim, WriteClaimRepository, Written } from '../../storage/types.js';

/** A client's Idempotency-Key, and the fingerprints a replay of its request may have. */
export interface IdempotencyKey {
  key: string;
  fingerprints: readonly string[];
}

/**
 * Every write runs under a claim (see WriteClaim), so that no write is applied twice and none is reported
 * failed when it committed:
 * - with the client's Idempotency-Key: a replay within 24 h answers the stored result (and says it is a
 *   replay); the same key with another request is IdempotencyKeyReused;
 * - without one: an internal write id, made once per write, so every retry of it carries the same id.
 * Internal ids start with a space, which a client key (1..255 visible ASCII) never does.
 */
export class ClaimedWrites {
  constructor(private readonly claims: WriteClaimRepository) {}

  async run<T>(
    tenant: string,
    idempotency: IdempotencyKey | undefined,
    write: (claim: WriteClaim) => Promise<Written<T>>,
  ): Promise<Written<T>> {
    if (!idempotency) return write({ key: ` ${uuidv7()}`, client: false, fingerprints: [] });
    // A plain read answers most replays at once; a replica that lags is caught by the write's own claim.
    const stored = await this.claims.find(tenant, idempotency.key);
    if (stored) {
      if (!idempotency.fingerprints.includes(stored.fingerprint)) throw new IdempotencyKeyReused();
      if (stored.result !== null) return { value: JSON.parse(stored.result) as T, replayed: true };
    }
    return write({ key: idempotency.key, client: true, fingerprints: idempotency.fingerprints });
  }
}
