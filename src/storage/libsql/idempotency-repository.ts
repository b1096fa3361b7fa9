import type { Database } from '../../db/database.js';
import type { IdempotencyRepository, IdempotentResponse } from '../episode-repository.js';

/** Keys are kept 24 h (SPEC §2); older ones are ignored, then pruned. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export class LibsqlIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly db: Database) {}

  async find(tenant: string, key: string): Promise<IdempotentResponse | null> {
    const rows = await this.db.read(
      'SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE tenant = ? AND key = ? AND created_at > ?',
      [tenant, key, Date.now() - IDEMPOTENCY_TTL_MS],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      key,
      fingerprint: row.fingerprint as string,
      status: Number(row.status),
      headers: JSON.parse(row.headers as string) as Record<string, string>,
      body: JSON.parse(row.body as string) as unknown,
    };
  }

  /** Removes expired keys; a key that expired may be reused. */
  async prune(): Promise<number> {
    const [result] = await this.db.write([
      { sql: 'DELETE FROM idempotency_keys WHERE created_at <= ?', args: [Date.now() - IDEMPOTENCY_TTL_MS] },
    ]);
    return result?.changes ?? 0;
  }
}
