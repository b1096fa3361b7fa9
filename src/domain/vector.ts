import { z } from 'zod';
import { MAX_EMBEDDING_DIMENSION } from './limits.js';

/** The largest magnitude a float32 holds: beyond it a number would be stored as Infinity. */
const F32_MAX = 3.4028234663852886e38;

/**
 * A vector: 1..4096 finite numbers that float32 can hold, not all zero (cosine similarity is undefined for
 * the zero vector). JSON has no NaN or Infinity; 1e999 parses to Infinity and is refused here.
 */
export const Vector = z
  .array(z.number({ error: 'must be a finite number' }))
  .min(1, 'must have at least 1 dimension')
  .max(MAX_EMBEDDING_DIMENSION, `must have at most ${MAX_EMBEDDING_DIMENSION} dimensions`)
  // One pass over the numbers (not a refinement per element: a 500-vector batch holds 192,000 of them).
  .superRefine((v, ctx) => {
    let nonZero = false;
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as number;
      if (Math.abs(x) > F32_MAX) {
        ctx.addIssue({ code: 'custom', path: [i], message: `must be within ±${F32_MAX} (float32)` });
      }
      if (Math.fround(x) !== 0) nonZero = true;
    }
    if (v.length > 0 && !nonZero) {
      ctx.addIssue({ code: 'custom', message: 'must not be all zeros: its cosine similarity is undefined' });
    }
  })
  .describe(`1..${MAX_EMBEDDING_DIMENSION} finite numbers, stored as float32`)
  .meta({ examples: [[0.12, -0.05, 0.33]] });
