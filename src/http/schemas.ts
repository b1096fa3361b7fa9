import { z } from 'zod';
import { Uuid } from '../domain/common.js';

// Request and response schemas every resource's routes share.

/** `{ items, next_cursor }`: a page of a keyset list (SPEC §2). */
export const pageSchema = <T extends z.ZodType>(item: T) =>
  z.strictObject({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  });

/** The path of one record: `/{id}`. */
export const IdParams = z.strictObject({ id: Uuid });

/** A boolean query parameter, `true` or `false` (default false): a typo is a 400, not a silent false. */
export const queryFlag = (description: string) =>
  z
    .enum(['true', 'false'])
    .default('false')
    .describe(description)
    .transform((value) => value === 'true');
