import { z } from 'zod';
import {
  boundedText,
  Cursor,
  checkJsonSize,
  ListLimit,
  Name,
  queryNumber,
  repeatable,
  Tag,
  TagInput,
  Tags,
  TimestampOut,
  Uuid,
} from './common.js';
import { Complexity, ContextTags } from './episode.js';
import type { FieldError } from './errors.js';
import {
  MAX_ABS_REWARD_DELTA,
  MAX_FILTER_VALUES,
  MAX_LIST_ITEMS,
  MAX_PATTERN_BYTES,
  MAX_TEXT_BYTES,
} from './limits.js';

// Patterns: what was learned, tagged by kind and stored losslessly (SPEC §3.3).

export const PatternKind = z.enum(['tool_sequence', 'decision_point', 'error_recovery', 'context_pattern']);
export type PatternKind = z.infer<typeof PatternKind>;

/** Where a pattern holds. Unlike an episode's context it has no defaults: what is sent is what is kept. */
export const PatternContext = z
  .strictObject({
    domain: Name.describe('Problem domain, e.g. "web-api"; the `domain` filter'),
    language: Name.optional().describe('Programming language; the `language` filter'),
    framework: Name.optional(),
    complexity: Complexity.optional(),
    tags: ContextTags.optional(),
  })
  .describe('Where the pattern holds; kept exactly as given');
export type PatternContext = z.infer<typeof PatternContext>;

const Prose = boundedText(1, MAX_TEXT_BYTES);
const Rate = z.number().min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]');
const Count = z.int().min(0);
const listOf = <T extends z.ZodType>(item: T) =>
  z.array(item).max(MAX_LIST_ITEMS, `must have at most ${MAX_LIST_ITEMS} items`);

/** Fields every kind shares on create. */
const common = {
  id: Uuid.optional().describe(
    'Client-chosen id. The same id with the same body is a no-op; with another body, 409',
  ),
  tags: Tags.optional().describe('Normalised like episode tags; the `tag` filter'),
};

const kindFields = {
  tool_sequence: {
    tools: listOf(Name).min(1).describe('The tools, in the order they are used'),
    context: PatternContext,
    success_rate: Rate.describe('Share of successful uses, in [0, 1]'),
    avg_latency_ms: z.number().min(0).describe('Mean latency of the sequence, ms'),
    occurrence_count: Count.describe('How often the sequence was seen'),
  },
  decision_point: {
    condition: Prose,
    action: Prose,
    outcome_stats: z
      .strictObject({
        success_count: Count,
        failure_count: Count,
        total_count: Count,
        avg_duration_secs: z.number().min(0),
      })
      .refine((s) => s.success_count + s.failure_count <= s.total_count, {
        path: ['total_count'],
        message: 'must be at least success_count + failure_count',
      })
      .describe('Its success rate (for the filter and sort) is success_count / total_count; none when 0'),
    context: PatternContext,
  },
  error_recovery: {
    error_type: Prose.describe('The error this recovers from'),
    recovery_steps: listOf(Prose).min(1).describe('What to do, in order (for mined suggestions: the tools)'),
    success_rate: Rate,
    context: PatternContext,
  },
  context_pattern: {
    context_features: listOf(Prose).min(1),
    recommended_approach: Prose,
    evidence: listOf(Uuid).describe('Ids of the episodes it was learned from (dangling ids allowed)'),
    success_rate: Rate,
    context: PatternContext.optional(),
  },
} as const;

const sized = <T extends z.ZodType>(schema: T) =>
  schema.superRefine((pattern, ctx) => checkJsonSize(pattern, MAX_PATTERN_BYTES, ctx));

const createOf = <K extends PatternKind>(kind: K) =>
  z.strictObject({ kind: z.literal(kind), ...common, ...kindFields[kind] });

/** Body of `POST /v1/patterns`: one of the four kinds, tagged by `kind`. */
export const PatternCreate = sized(
  z.discriminatedUnion('kind', [
    createOf('tool_sequence'),
    createOf('decision_point'),
    createOf('error_recovery'),
    createOf('context_pattern'),
  ]),
).describe(`A pattern of one of four kinds, tagged by kind; at most ${MAX_PATTERN_BYTES} bytes as JSON`);
export type PatternCreate = z.infer<typeof PatternCreate>;

export const Effectiveness = z
  .strictObject({
    times_retrieved: Count.describe(
      'How often lists returned it; counted in memory and written in batches every few seconds (see the list)',
    ),
    times_applied: Count,
    success_when_applied: Count.describe('Applications with outcome helped'),
    failure_when_applied: Count.describe('Applications with outcome hindered'),
    avg_reward_delta: z
      .number()
      .describe('Mean reward_delta of the applications that gave one; 0 until one did'),
    last_used: TimestampOut.nullable().describe('When it was last applied'),
    score: z
      .number()
      .min(0)
      .max(1)
      .describe(
        'The `effectiveness` sort key: (success_when_applied + 1) / (times_applied + 2) × times_applied / (times_applied + 10), a Laplace-smoothed helped-rate weighted by use; 0 until applied',
      ),
  })
  .describe('Usage counters, kept by the service (not writable)');
export type Effectiveness = z.infer<typeof Effectiveness>;

const recordOf = <K extends PatternKind>(kind: K) =>
  z.strictObject({
    id: Uuid,
    tenant: z.string(),
    kind: z.literal(kind),
    tags: z.array(Tag).describe('Normalised, sorted ascending'),
    ...kindFields[kind],
    effectiveness: Effectiveness,
    created_at: TimestampOut,
    updated_at: TimestampOut,
    version: z.int().min(1),
  });

/** A pattern as stored and returned: its fields exactly as written, with its counters. */
export const PatternRecord = z.discriminatedUnion('kind', [
  recordOf('tool_sequence'),
  recordOf('decision_point'),
  recordOf('error_recovery'),
  recordOf('context_pattern'),
]);
export type PatternRecord = z.infer<typeof PatternRecord>;

/** The fields of a pattern its owner wrote (what a merge patch applies to). */
export type PatternFields = Omit<PatternCreate, 'id'>;

/**
 * Body of `PATCH /v1/patterns/{id}` and `/v1/heuristics/{id}`: a JSON merge patch (RFC 7396) of the
 * writable fields. The patched record must be valid as a create would be (every limit holds after a patch).
 */
export const MergePatch = z
  .record(z.string(), z.unknown())
  .describe(
    'JSON merge patch of the writable fields: absent fields are kept, null removes an optional one, objects merge key by key, arrays are replaced. The result is validated as a create would be; id, kind and the counters cannot be changed',
  );
export type MergePatch = z.infer<typeof MergePatch>;

export const PatternSort = z
  .enum(['success_rate_desc', 'effectiveness_desc', 'created_desc'])
  .default('success_rate_desc')
  .describe(
    'success_rate_desc: highest success rate first (decision points without outcomes last); effectiveness_desc: by effectiveness.score; created_desc: newest first',
  );

/** Querystring of `GET /v1/patterns`: filters combined with AND. */
export const PatternListQuery = z.strictObject({
  kind: PatternKind.optional(),
  domain: Name.optional().describe('context.domain equals'),
  language: Name.optional().describe('context.language equals'),
  tag: repeatable(TagInput, MAX_FILTER_VALUES)
    .optional()
    .describe('Repeatable; patterns with any of these tags'),
  min_success_rate: queryNumber(Rate).optional().describe('success_rate ≥ this'),
  sort: PatternSort,
  limit: ListLimit,
  cursor: Cursor.optional(),
});
export type PatternListQuery = z.infer<typeof PatternListQuery>;

/** Body of `POST /v1/patterns/{id}/applications`. */
export const ApplicationCreate = z.strictObject({
  episode_id: Uuid.optional().describe('The episode that applied it (a dangling id is allowed)'),
  outcome: z.enum(['helped', 'no_effect', 'hindered']),
  reward_delta: z
    .number()
    .min(-MAX_ABS_REWARD_DELTA)
    .max(MAX_ABS_REWARD_DELTA)
    .optional()
    .describe('How much the reward moved; folded into avg_reward_delta (the running mean)'),
});
export type ApplicationCreate = z.infer<typeof ApplicationCreate>;

// ---- Heuristics -------------------------------------------------------------------------------------

const heuristicFields = {
  condition: Prose.describe('When it applies'),
  action: Prose.describe('What to do then'),
  confidence: Rate.describe('In [0, 1]; the list is sorted by it'),
  evidence: z.strictObject({
    episode_ids: listOf(Uuid).describe('Episodes supporting it (dangling ids allowed)'),
    success_rate: Rate,
    sample_size: Count,
  }),
};

/** Body of `POST /v1/heuristics`. */
export const HeuristicCreate = sized(z.strictObject({ id: common.id, ...heuristicFields })).describe(
  `At most ${MAX_PATTERN_BYTES} bytes as JSON`,
);
export type HeuristicCreate = z.infer<typeof HeuristicCreate>;

export const HeuristicRecord = z.strictObject({
  id: Uuid,
  tenant: z.string(),
  ...heuristicFields,
  created_at: TimestampOut,
  updated_at: TimestampOut,
  version: z.int().min(1),
});
export type HeuristicRecord = z.infer<typeof HeuristicRecord>;
export type HeuristicFields = Omit<HeuristicCreate, 'id'>;

export const HeuristicListQuery = z.strictObject({
  min_confidence: queryNumber(Rate).optional().describe('confidence ≥ this'),
  limit: ListLimit,
  cursor: Cursor.optional(),
});
export type HeuristicListQuery = z.infer<typeof HeuristicListQuery>;

/** Why `fields` are not valid as a create of `schema`, as errors naming each field (body paths). */
export function createProblems(schema: z.ZodType, fields: unknown): FieldError[] {
  const parsed = schema.safeParse(fields);
  return (parsed.error?.issues ?? []).map((issue) => ({
    in: 'body',
    path: `/${issue.path.join('/')}`,
    message: issue.message,
  }));
}
