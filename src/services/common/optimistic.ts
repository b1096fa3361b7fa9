import { ConcurrentModification, PreconditionFailed } from '../../domain/errors.js';
import { VersionMismatch } from '../../storage/types.js';

/** What the client required of the current version (If-Match), in domain terms. */
export interface VersionPrecondition {
  allows(version: number): boolean;
}

/** Attempts of a read-modify-write that lost races to other writers, before it gives up with a 409. */
const MAX_ATTEMPTS = 10;

/**
 * Read-modify-write with optimistic concurrency: `write` computes the change from the version `read`
 * returned and must fail with VersionMismatch when that version moved before it committed. A lost race is
 * retried from a fresh read; a precondition the client gave is checked against every version read — 412
 * only then — and after MAX_ATTEMPTS lost races the answer is a 409.
 */
export async function changeOptimistically<R extends { version: number }, W>(
  read: () => Promise<R>,
  write: (current: R) => Promise<W>,
  precondition?: VersionPrecondition,
): Promise<W> {
  for (let attempt = 1; ; attempt++) {
    const current = await read();
    if (precondition && !precondition.allows(current.version))
      throw new PreconditionFailed(String(current.version));
    try {
      return await write(current);
    } catch (err) {
      if (!(err instanceof VersionMismatch)) throw err;
      if (attempt >= MAX_ATTEMPTS) throw new ConcurrentModification(err.id);
    }
  }
}
