import createError from '@fastify/error';
import { z } from 'zod';

// Errors the services raise; each has a stable `code` that clients can rely on (SPEC §2).

export const EpisodeNotFound = createError<[string]>('EPISODE_NOT_FOUND', 'Episode %s was not found', 404);
export const StepNotFound = createError<[number, string]>(
  'STEP_NOT_FOUND',
  'Step %s of episode %s was not found',
  404,
);
export const EpisodeIdConflict = createError<[string]>(
  'EPISODE_ID_CONFLICT',
  'Episode %s already exists with a different body',
  409,
);
export const EpisodeAlreadyCompleted = createError<[string]>(
  'EPISODE_ALREADY_COMPLETED',
  'Episode %s is already completed',
  409,
);
export const EpisodeCompleted = createError<[string]>(
  'EPISODE_COMPLETED',
  'Episode %s is completed and strict=true forbids appending steps',
  409,
);
export const StepNumberConflict = createError<[string]>(
  'STEP_NUMBER_CONFLICT',
  'A step with one of these numbers already exists in episode %s',
  409,
);
export const StepNumbersExhausted = createError<[string, number]>(
  'STEP_NUMBERS_EXHAUSTED',
  'Episode %s has no free step number after its highest (the largest is %s): give explicit step_number values',
  409,
);
export const EndBeforeStart = createError<[string]>(
  'END_BEFORE_START',
  'Episode %s cannot end before it started: end_time is earlier than start_time',
  409,
);
export const ResponseTooLarge = createError<[string]>(
  'RESPONSE_TOO_LARGE',
  'The answer would exceed the response size budget: %s',
  422,
);
export const StepLimitExceeded = createError<[string, number]>(
  'STEP_LIMIT_EXCEEDED',
  'Episode %s would exceed %s steps',
  413,
);
export const PreconditionFailed = createError<[string]>(
  'PRECONDITION_FAILED',
  'If-Match does not match the current version %s',
  412,
);
export const ConcurrentModification = createError<[string]>(
  'CONCURRENT_MODIFICATION',
  'Record %s kept changing under concurrent writes; retry, or send If-Match to change a known version',
  409,
);
export const IdempotencyKeyReused = createError(
  'IDEMPOTENCY_KEY_REUSED',
  'This Idempotency-Key was used with a different request',
  422,
);
export const EmbeddingDimensionMismatch = createError<[string]>(
  'EMBEDDING_DIMENSION_MISMATCH',
  'The vector length does not match the dimension of model %s',
  422,
);
export const InvalidCursor = createError(
  'INVALID_CURSOR',
  'The cursor is malformed or belongs to another query',
  400,
);

/** One invalid field of a 400 (SPEC §2): where it was sent, its JSON Pointer, and what is wrong. */
export const FieldError = z.strictObject({
  in: z.enum(['body', 'query', 'params', 'headers']),
  path: z.string().describe('JSON Pointer to the offending field'),
  message: z.string(),
});
export type FieldError = z.infer<typeof FieldError>;

/** The JSON Pointer (RFC 6901) of a field: `pointerOf(['a/b', 0])` is `/a~1b/0`; no segments is `/`. */
export function pointerOf(segments: readonly (string | number)[]): string {
  if (segments.length === 0) return '/';
  return segments.map((s) => `/${String(s).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** A request rejected by a rule that the schema cannot express; names the offending fields. */
export class InvalidRequest extends Error {
  override name = 'InvalidRequest';
  readonly code: string;
  constructor(
    readonly statusCode: 400 | 413 | 422,
    readonly errors: FieldError[],
    code?: string,
  ) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('; '));
    this.code = code ?? (statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED');
  }
}

export const PatternNotFound = createError<[string]>('PATTERN_NOT_FOUND', 'Pattern %s was not found', 404);
export const PatternIdConflict = createError<[string]>(
  'PATTERN_ID_CONFLICT',
  'Pattern %s already exists with a different body',
  409,
);
export const HeuristicNotFound = createError<[string]>(
  'HEURISTIC_NOT_FOUND',
  'Heuristic %s was not found',
  404,
);
export const HeuristicIdConflict = createError<[string]>(
  'HEURISTIC_ID_CONFLICT',
  'Heuristic %s already exists with a different body',
  409,
);
