import { z } from 'zod';
import {
  boundedString,
  boundedText,
  checkJsonSize,
  Location,
  Metadata,
  MetadataPatch,
  Name,
  Tag,
  Tags,
  Timestamp,
  TimestampOut,
  timestampToMs,
  Uuid,
} from './common.js';
import type { FieldError } from './errors.js';
import {
  MAX_ARTIFACT_BYTES,
  MAX_BATCH_EPISODES,
  MAX_CONTEXT_TAGS,
  MAX_EMBEDDING_DIMENSION,
  MAX_EPISODE_BYTES,
  MAX_LIST_ITEMS,
  MAX_NAME_CHARS,
  MAX_TASK_DESCRIPTION_BYTES,
  MAX_TEXT_BYTES,
} from './limits.js';
import { StepCreateList, StepRecord } from './step.js';

// Episodes: one attempt by an agent at one task (SPEC §3.1).

export const TaskType = z.enum([
  'code_generation',
  'debugging',
  'refactoring',
  'testing',
  'analysis',
  'documentation',
  'other',
]);
export type TaskType = z.infer<typeof TaskType>;

export const Complexity = z.enum(['simple', 'moderate', 'complex']);
export type Complexity = z.infer<typeof Complexity>;

export const ContextTags = z
  .array(boundedString(1, MAX_NAME_CHARS))
  .max(MAX_CONTEXT_TAGS, `must have at most ${MAX_CONTEXT_TAGS} tags`)
  .describe('Free-form context tags, kept exactly as given (unlike the normalised episode tags)');

export const TaskContext = z.strictObject({
  domain: Name.describe('Problem domain, e.g. "web-api"; 1..200 characters'),
  language: Name.optional().describe('Programming language, if any'),
  framework: Name.optional().describe('Framework, if any'),
  complexity: Complexity.default('moderate'),
  tags: ContextTags.default(() => []),
});
export type TaskContext = z.infer<typeof TaskContext>;

// Written out rather than derived with .partial(): a partial keeps the defaults, and a default in a
// patch would silently overwrite a stored value the client never mentioned.
const TaskContextPatch = z
  .strictObject({
    domain: Name.optional(),
    language: Name.nullable().optional(),
    framework: Name.nullable().optional(),
    complexity: Complexity.optional(),
    tags: ContextTags.optional(),
  })
  .describe('Merged into the stored context: given fields replace, null removes language or framework');

const Prose = boundedText(0, MAX_TEXT_BYTES);
const Artifact = boundedText(0, MAX_ARTIFACT_BYTES);

/** A list inside an outcome, reflection or salient features; absent means empty. */
function listOf<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .max(MAX_LIST_ITEMS, `must have at most ${MAX_LIST_ITEMS} items`)
    .default(() => []);
}

export const OutcomeType = z.enum(['success', 'partial_success', 'failure', 'abstained']);
export type OutcomeType = z.infer<typeof OutcomeType>;

export const Outcome = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('success'),
      verdict: Prose,
      artifacts: listOf(Artifact).describe(`Produced artifacts, each at most ${MAX_ARTIFACT_BYTES} bytes`),
    }),
    z.strictObject({
      type: z.literal('partial_success'),
      verdict: Prose,
      completed: listOf(Prose),
      failed: listOf(Prose),
    }),
    z.strictObject({
      type: z.literal('failure'),
      reason: Prose,
      error_details: Artifact.optional().describe(`At most ${MAX_ARTIFACT_BYTES} bytes`),
    }),
    z.strictObject({
      type: z.literal('abstained'),
      reason: Prose,
      stopped_at_step: z.int().min(0).describe('Last step reached; 0 if it stopped before the first'),
      infeasibility_signals: listOf(Prose),
    }),
  ])
  .describe(`How the attempt ended, tagged by type. Texts at most ${MAX_TEXT_BYTES} bytes`);
export type Outcome = z.infer<typeof Outcome>;

export const Reward = z
  .strictObject({
    total: z.number(),
    base: z.number(),
    efficiency: z.number(),
    complexity_bonus: z.number(),
    quality_multiplier: z.number(),
    learning_bonus: z.number(),
    abstention_score: z.number().optional(),
  })
  .describe('Reward computed by the agent; finite numbers, stored as given');
export type Reward = z.infer<typeof Reward>;

// The request accepts any offset; the record always carries the canonical UTC form.
function reflectionWith<T extends z.ZodType<string, string>>(time: T) {
  return z.strictObject({
    successes: listOf(Prose),
    improvements: listOf(Prose),
    insights: listOf(Prose),
    generated_at: time,
  });
}

export const Reflection = reflectionWith(Timestamp);
export type Reflection = z.infer<typeof Reflection>;

export const AppliedPattern = z.strictObject({
  pattern_id: Uuid,
  applied_at_step: z.int().min(0).describe('Step at which it was applied; 0 if before the first'),
  outcome: z.enum(['helped', 'no_effect', 'hindered', 'pending']),
  notes: Prose.optional(),
});
export type AppliedPattern = z.infer<typeof AppliedPattern>;

const AppliedPatterns = z
  .array(AppliedPattern)
  .max(MAX_LIST_ITEMS, `must have at most ${MAX_LIST_ITEMS} items`);

export const SalientFeatures = z.strictObject({
  critical_decisions: listOf(Prose),
  tool_combinations: listOf(z.array(Name).max(MAX_LIST_ITEMS)).describe('Lists of tools used together'),
  error_recovery_patterns: listOf(Prose),
  key_insights: listOf(Prose),
});
export type SalientFeatures = z.infer<typeof SalientFeatures>;

const TaskDescription = boundedText(1, MAX_TASK_DESCRIPTION_BYTES).describe(
  `What the task was, 1..${MAX_TASK_DESCRIPTION_BYTES} bytes`,
);

const IdList = z
  .array(Uuid)
  .max(MAX_LIST_ITEMS)
  .default(() => []);

const Embedding = z
  .strictObject({
    model: Name.describe('Embedding model name, e.g. all-MiniLM-L6-v2'),
    vector: z.array(z.number()).min(1).max(MAX_EMBEDDING_DIMENSION),
  })
  .describe(`A vector of 1..${MAX_EMBEDDING_DIMENSION} finite numbers, stored with the episode`);

/** True when both are valid timestamps and `a` is earlier; invalid ones are reported on their own. */
function isBefore(a: string, b: string): boolean {
  return (
    Timestamp.safeParse(a).success && Timestamp.safeParse(b).success && timestampToMs(a) < timestampToMs(b)
  );
}

/** Body of `POST /v1/episodes`. Defaults fill the collections, so a parsed body is complete. */
export const EpisodeCreate = z
  .strictObject({
    id: Uuid.optional().describe(
      'Client-chosen id. The same id with the same body is a no-op; with another body, 409',
    ),
    agent_id: Name.optional().describe('Which agent wrote it'),
    session_id: Name.optional(),
    task_type: TaskType,
    task_description: TaskDescription,
    context: TaskContext,
    tags: Tags.default(() => []),
    start_time: Timestamp.optional().describe('When the attempt began (RFC 3339); default: now'),
    end_time: Timestamp.optional().describe('When it ended (RFC 3339); absent while in progress'),
    outcome: Outcome.optional(),
    reward: Reward.optional(),
    reflection: Reflection.optional(),
    patterns: IdList.describe('Ids of patterns extracted from this episode'),
    heuristics: IdList.describe('Ids of heuristics extracted from this episode'),
    applied_patterns: AppliedPatterns.default(() => []),
    salient_features: SalientFeatures.optional(),
    metadata: Metadata.default(() => ({})),
    location: Location.optional(),
    archived: z.boolean().default(false),
    steps: StepCreateList.default(() => []),
    embedding: Embedding.optional(),
  })
  .superRefine((episode, ctx) => {
    if (episode.start_time && episode.end_time && isBefore(episode.end_time, episode.start_time)) {
      ctx.addIssue({ code: 'custom', path: ['end_time'], message: 'must not be earlier than start_time' });
    }
    const limit = `the episode must be at most ${MAX_EPISODE_BYTES} bytes as JSON, steps included`;
    checkJsonSize(episode, MAX_EPISODE_BYTES, ctx, limit);
  });
export type EpisodeCreate = z.infer<typeof EpisodeCreate>;

/** Body of `POST /v1/episodes/batch`: stored atomically, all or none. */
export const EpisodeBatchCreate = z
  .strictObject({
    episodes: z
      .array(EpisodeCreate)
      .min(1, 'must have at least one episode')
      .max(MAX_BATCH_EPISODES, `must have at most ${MAX_BATCH_EPISODES} episodes`),
  })
  .superRefine(({ episodes }, ctx) => {
    const firstIndex = new Map<string, number>();
    episodes.forEach(({ id }, index) => {
      if (id === undefined) return;
      const first = firstIndex.get(id);
      if (first === undefined) firstIndex.set(id, index);
      else {
        ctx.addIssue({
          code: 'custom',
          path: ['episodes', index, 'id'],
          message: `is also the id of the episode at index ${first}`,
        });
      }
    });
  });
export type EpisodeBatchCreate = z.infer<typeof EpisodeBatchCreate>;

/**
 * Body of `PATCH /v1/episodes/{id}`: a JSON merge patch (RFC 7396) of the mutable fields. Absent
 * fields are kept and `null` removes an optional one. `metadata` and `context` merge key by key;
 * every other field, objects included, is replaced whole. No defaults here: a patch says only what it says.
 */
export const EpisodePatch = z
  .strictObject({
    task_description: TaskDescription.optional(),
    context: TaskContextPatch.optional(),
    tags: Tags.optional().describe('Replaces the whole tag set; stored normalised as on create'),
    metadata: MetadataPatch.optional(),
    outcome: Outcome.nullable().optional(),
    reward: Reward.nullable().optional(),
    reflection: Reflection.nullable().optional(),
    applied_patterns: AppliedPatterns.optional().describe('Replaces the whole list'),
    salient_features: SalientFeatures.nullable().optional(),
    location: Location.nullable().optional(),
    archived: z.boolean().optional(),
    end_time: Timestamp.nullable().optional().describe('null reopens the episode'),
  })
  .describe(
    'JSON merge patch: absent fields are kept, null removes; metadata and context merge key by key, other fields are replaced whole',
  );
export type EpisodePatch = z.infer<typeof EpisodePatch>;

/** Body of `POST /v1/episodes/{id}/complete`. */
export const EpisodeComplete = z.strictObject({
  outcome: Outcome,
  reward: Reward.optional(),
  reflection: Reflection.optional(),
  end_time: Timestamp.optional().describe('When it ended (RFC 3339); default: now'),
});
export type EpisodeComplete = z.infer<typeof EpisodeComplete>;

export const EpisodeStatus = z.enum(['in_progress', 'completed']);
export type EpisodeStatus = z.infer<typeof EpisodeStatus>;

/** An episode as stored and returned. Optional top-level fields are null when absent. */
export const EpisodeRecord = z.strictObject({
  id: Uuid,
  tenant: z.string(),
  agent_id: Name.nullable(),
  session_id: Name.nullable(),
  task_type: TaskType,
  task_description: z.string(),
  context: TaskContext,
  tags: z.array(Tag).describe('Normalised, sorted ascending'),
  start_time: TimestampOut,
  end_time: TimestampOut.nullable(),
  status: EpisodeStatus.describe('completed when end_time is set'),
  outcome: Outcome.nullable(),
  reward: Reward.nullable(),
  reflection: reflectionWith(TimestampOut).nullable(),
  patterns: z.array(Uuid),
  heuristics: z.array(Uuid),
  applied_patterns: z.array(AppliedPattern),
  salient_features: SalientFeatures.nullable(),
  metadata: Metadata,
  location: Location.nullable(),
  archived: z.boolean(),
  step_count: z.int().min(0),
  created_at: TimestampOut,
  updated_at: TimestampOut,
  version: z.int().min(1),
  steps: z.array(StepRecord).optional().describe('Present with ?include=steps, in step_number order'),
});
export type EpisodeRecord = z.infer<typeof EpisodeRecord>;

/**
 * Why a changed episode could not have been created as it now is (SPEC §3.1: every limit that create
 * enforces holds after any change), as errors naming each field; empty when it could. A merge patch can
 * reach states its own schema cannot see: metadata merged past 100 keys, an end before the start, a
 * record grown past 10 MB.
 */
export function storedEpisodeProblems(record: EpisodeRecord): FieldError[] {
  const given = Object.fromEntries(
    Object.entries({
      id: record.id,
      agent_id: record.agent_id,
      session_id: record.session_id,
      task_type: record.task_type,
      task_description: record.task_description,
      context: record.context,
      tags: record.tags,
      start_time: record.start_time,
      end_time: record.end_time,
      outcome: record.outcome,
      reward: record.reward,
      reflection: record.reflection,
      patterns: record.patterns,
      heuristics: record.heuristics,
      applied_patterns: record.applied_patterns,
      salient_features: record.salient_features,
      metadata: record.metadata,
      location: record.location,
      archived: record.archived,
    }).filter(([, value]) => value !== null),
  );
  const parsed = EpisodeCreate.safeParse(given);
  return (parsed.error?.issues ?? []).map((issue) => ({
    in: 'body',
    path: `/${issue.path.join('/')}`,
    message: issue.message,
  }));
}
