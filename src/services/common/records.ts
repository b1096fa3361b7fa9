import type { z } from 'zod';
import { InvalidRequest } from '../../domain/errors.js';
import { createProblems } from '../../domain/pattern.js';
import type { Written } from '../../storage/types.js';
import { mergePatch } from './merge-patch.js';

/** A create's answer: the record, and whether this request created it (else: the same id and body existed). */
export type Created<T> = Written<T> & { created: boolean };

/**
 * A create with the same-id rule of SPEC §2: when `write` meets an existing id (`idTaken`), an identical
 * body (same fingerprint) answers the stored record with `created: false`, anything else is `conflict`.
 */
export async function createOnce<T>(create: {
  write: () => Promise<Written<T>>;
  idTaken: (err: unknown) => boolean;
  bodyHash: string;
  storedBodyHash: () => Promise<string | null>;
  stored: () => Promise<T>;
  conflict: () => Error;
}): Promise<Created<T>> {
  try {
    return { ...(await create.write()), created: true };
  } catch (err) {
    if (!create.idTaken(err)) throw err;
    if ((await create.storedBodyHash()) !== create.bodyHash) throw create.conflict();
    return { value: await create.stored(), replayed: false, created: false };
  }
}

/**
 * A JSON merge patch applied to a record's writable fields, validated as a create of `schema` would be (so
 * every limit holds after a patch); fields named in `fixed` cannot be patched. Answers the parsed fields.
 */
export function patchedFields<S extends z.ZodType>(
  schema: S,
  writable: Record<string, unknown>,
  patch: Record<string, unknown>,
  fixed: readonly string[],
): z.infer<S> {
  const fixedNamed = Object.keys(patch).filter((key) => fixed.includes(key));
  if (fixedNamed.length > 0) {
    throw new InvalidRequest(
      400,
      fixedNamed.map((key) => ({ in: 'body', path: `/${key}`, message: 'cannot be changed' })),
    );
  }
  const merged = mergePatch(writable, patch);
  const problems = createProblems(schema, merged);
  if (problems.length > 0) throw new InvalidRequest(400, problems);
  return schema.parse(merged);
}
