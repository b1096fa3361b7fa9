import { z } from 'zod';
import {
  boundedText,
  Cursor,
  checkJsonSize,
  Duration,
  JsonObject,
  ListLimit,
  Location,
  Metadata,
  Name,
  Timestamp,
  TimestampOut,
  Uuid,
} from './common.js';
import {
  MAX_STEP_NUMBER,
  MAX_STEP_PARAMETERS_BYTES,
  MAX_STEP_TEXT_BYTES,
  MAX_STEPS_PER_EPISODE,
} from './limits.js';

// Steps: one action inside an episode (SPEC §3.2).

export const StepResultType = z.enum(['success', 'error', 'timeout']);
export type StepResultType = z.infer<typeof StepResultType>;

const StepText = boundedText(0, MAX_STEP_TEXT_BYTES);

export const StepResult = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('success'),
      output: StepText.describe(`What the action produced, at most ${MAX_STEP_TEXT_BYTES} bytes`),
    }),
    z.strictObject({
      type: z.literal('error'),
      message: StepText.describe(`The error, at most ${MAX_STEP_TEXT_BYTES} bytes`),
    }),
    z.strictObject({ type: z.literal('timeout') }),
  ])
  .nullable()
  .describe('What the action returned, tagged by type; null when not known');
export type StepResult = z.infer<typeof StepResult>;

const Parameters = JsonObject.superRefine((parameters, ctx) =>
  checkJsonSize(parameters, MAX_STEP_PARAMETERS_BYTES, ctx),
);

/** The rule of a step number, for a JSON value and for a path segment (which arrives as text). */
const stepNumberOf = <T extends z.ZodNumber | z.ZodCoercedNumber>(base: T) =>
  base.int().min(1).max(MAX_STEP_NUMBER);
export const StepNumber = stepNumberOf(z.number());
/** A step number in a path (`…/steps/{n}`): the same rule, read from text, and documented as an integer. */
export const StepNumberParam = stepNumberOf(z.coerce.number());

export const StepCreate = z.strictObject({
  step_number: StepNumber.optional().describe(
    '1-based and unique within the episode; omitted: the next free number',
  ),
  timestamp: Timestamp.optional().describe('When the step happened (RFC 3339); default: now'),
  tool: Name.describe('The tool used, 1..200 characters'),
  action: boundedText(1, MAX_STEP_TEXT_BYTES).describe(
    `What the agent did with the tool, 1..${MAX_STEP_TEXT_BYTES} bytes`,
  ),
  parameters: Parameters.default(() => ({})).describe(
    `The tool's arguments: any JSON object, at most ${MAX_STEP_PARAMETERS_BYTES} bytes serialized`,
  ),
  result: StepResult.default(null),
  latency_ms: Duration.optional().describe('Duration of the action in milliseconds; fractions allowed'),
  tokens_used: z.int().min(0).optional().describe('Tokens the action consumed'),
  metadata: Metadata.default(() => ({})),
  location: Location.optional(),
});
export type StepCreate = z.infer<typeof StepCreate>;

/** Steps sent together (in an episode or in one append): at most 1,000, explicit numbers unique. */
export const StepCreateList = z
  .array(StepCreate)
  .max(MAX_STEPS_PER_EPISODE, `must have at most ${MAX_STEPS_PER_EPISODE} steps`)
  .superRefine((steps, ctx) => {
    const firstIndex = new Map<number, number>();
    steps.forEach((step, index) => {
      if (step.step_number === undefined) return;
      const first = firstIndex.get(step.step_number);
      if (first === undefined) firstIndex.set(step.step_number, index);
      else {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'step_number'],
          message: `step_number ${step.step_number} is also used by the step at index ${first}`,
        });
      }
    });
  });

const StepBatch = z.strictObject({
  steps: StepCreateList.min(1, 'must have at least one step'),
});

/** Explains a body that is neither form, using the errors of the form it was meant to be. */
function stepAppendError(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const input = issue.input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return 'must be one step object, or {"steps": [...]}';
  }
  const batch = 'steps' in input;
  const errors = (issue as z.core.$ZodRawIssue<z.core.$ZodIssueInvalidUnion>).errors[batch ? 1 : 0] ?? [];
  const details = errors.map((e) => `/${e.path.join('/')}: ${e.message}`).join('; ');
  return `${batch ? 'a {"steps": [...]} batch' : 'a single step'} is invalid: ${details}`;
}

/**
 * Body of `POST /v1/episodes/{id}/steps`: one step, or `{ "steps": [...] }`. Both forms are strict
 * and a step has no `steps` field, so the `steps` key alone tells them apart and exactly one can match.
 */
export const StepAppend = z
  .union([StepCreate, StepBatch], { error: stepAppendError })
  .describe(
    `One step, or {"steps": [...]} with 1..${MAX_STEPS_PER_EPISODE} steps stored atomically. The presence of the "steps" key selects the form.`,
  );
export type StepAppend = z.infer<typeof StepAppend>;

/** The steps of an append request, whichever form it took. */
export function appendedSteps(body: StepAppend): StepCreate[] {
  return 'steps' in body ? body.steps : [body];
}

export const StepRecord = z.strictObject({
  episode_id: Uuid,
  step_number: StepNumber,
  timestamp: TimestampOut,
  tool: Name,
  action: z.string(),
  parameters: JsonObject,
  result: StepResult,
  latency_ms: Duration.nullable(),
  tokens_used: z.int().min(0).nullable(),
  metadata: Metadata,
  location: Location.nullable(),
});
export type StepRecord = z.infer<typeof StepRecord>;

/** What an append answers: the stored step, or `{ items }` when the request sent `{ "steps": [...] }`. */
export type AppendedSteps = StepRecord | { items: StepRecord[] };

/** `GET /v1/episodes/{id}/steps`: pages in step_number order. */
export const StepListQuery = z.strictObject({
  limit: ListLimit,
  cursor: Cursor.optional(),
});
export type StepListQuery = z.infer<typeof StepListQuery>;

/** `GET /v1/steps`: steps across episodes, newest first. */
export const GlobalStepListQuery = z.strictObject({
  tool: Name.optional().describe('Only steps that used this tool'),
  result: StepResultType.optional().describe('Only steps whose result has this type'),
  since: Timestamp.optional().describe('Only steps at or after this time (inclusive)'),
  until: Timestamp.optional().describe('Only steps before this time (exclusive)'),
  episode_id: Uuid.optional().describe('Only steps of this episode'),
  agent_id: Name.optional().describe("Only steps of this agent's episodes"),
  limit: ListLimit,
  cursor: Cursor.optional(),
});
export type GlobalStepListQuery = z.infer<typeof GlobalStepListQuery>;
