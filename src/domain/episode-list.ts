import { z } from 'zod';
import {
  boundedString,
  Cursor,
  ListLimit,
  Metadata,
  MetadataKey,
  Name,
  queryNumber,
  repeatable,
  TagInput,
  Timestamp,
  withoutNul,
} from './common.js';
import { EpisodeStatus, OutcomeType, TaskType } from './episode.js';
import { MAX_FILTER_VALUES, MAX_QUERY_TEXT_CHARS } from './limits.js';
import { Near, oneOfNearWithin, TimeWindow, Within } from './space-time.js';

// The episode list's query string (SPEC §3.1): filters combined with AND, a sort and a keyset cursor.

/** The filters of the episode list, shared by every query over episodes (search, timeline). */
const filterShape = {
  task_type: repeatable(TaskType, MAX_FILTER_VALUES).optional().describe('Repeatable; any of these'),
  domain: Name.optional(),
  language: Name.optional(),
  agent_id: Name.optional(),
  session_id: Name.optional(),
  tag: repeatable(TagInput, MAX_FILTER_VALUES)
    .optional()
    .describe('Repeatable; normalised like stored tags. Combined by tags_match'),
  tags_match: z
    .enum(['any', 'all'])
    .default('any')
    .describe('Whether an episode needs any or all of the tags'),
  status: EpisodeStatus.optional(),
  outcome: repeatable(OutcomeType, MAX_FILTER_VALUES)
    .optional()
    .describe('Repeatable outcome type; any of these'),
  min_reward: queryNumber(z.number({ error: 'must be a finite number' }))
    .optional()
    .describe('reward.total ≥ this'),
  max_reward: queryNumber(z.number({ error: 'must be a finite number' }))
    .optional()
    .describe('reward.total ≤ this'),
  started_after: Timestamp.optional().describe('start_time ≥ this (inclusive; encode + as %2B)'),
  started_before: Timestamp.optional().describe('start_time < this (exclusive; encode + as %2B)'),
  archived: z.enum(['false', 'true', 'any']).default('false'),
  // FTS5 reads its query up to a NUL, which would leave a quoted term open (a 500 before this refusal).
  q: withoutNul(boundedString(1, MAX_QUERY_TEXT_CHARS))
    .optional()
    .describe('Full-text search over description, verdict or reason, and reflection'),
};

const listQueryShape = {
  limit: ListLimit,
  cursor: Cursor.optional(),
  ...filterShape,
  sort: z.enum(['start_time_desc', 'start_time_asc', 'reward_desc']).default('start_time_desc'),
  include: z.enum(['steps']).optional().describe('steps: embed each episode’s steps'),
};

const METADATA_PARAM = 'metadata.';
const KNOWN_PARAMS = `${Object.keys(listQueryShape).join(', ')}, ${METADATA_PARAM}<key>`;

/**
 * Querystring of `GET /v1/episodes`: filters combine with AND. Besides the named parameters it takes
 * `metadata.<key>=<value>` equality filters (read them with `metadataFilters`); any other parameter
 * is rejected so that a typo does not silently widen the result.
 */
export const EpisodeListQuery = z
  .object(listQueryShape)
  .catchall(z.unknown())
  .superRefine((query, ctx) => {
    for (const [param, value] of Object.entries(query)) {
      if (Object.hasOwn(listQueryShape, param)) continue;
      let message: string | undefined;
      if (!param.startsWith(METADATA_PARAM)) {
        message = `unknown query parameter ${JSON.stringify(param)}; known: ${KNOWN_PARAMS}`;
      } else {
        const keyProblem = MetadataKey.safeParse(param.slice(METADATA_PARAM.length)).error?.issues[0]
          ?.message;
        if (keyProblem) message = `metadata key ${keyProblem}`;
        else if (typeof value !== 'string') message = 'a metadata filter may be given only once';
      }
      if (message) ctx.addIssue({ code: 'custom', path: [param], message });
    }
  })
  .describe('Episode filters, combined with AND; also metadata.<key>=<value> for metadata equality');
export type EpisodeListQuery = z.infer<typeof EpisodeListQuery>;

/** The `metadata.<key>=<value>` filters of a validated list query, as key → value. */
export function metadataFilters(query: EpisodeListQuery): Record<string, string> {
  return Object.fromEntries(
    Object.entries(query).flatMap(([param, value]) =>
      param.startsWith(METADATA_PARAM) && typeof value === 'string'
        ? [[param.slice(METADATA_PARAM.length), value]]
        : [],
    ),
  );
}

/**
 * The episode list's filters in a JSON body (searches take them as `filter`): the same fields, with
 * `metadata` as an object of key → value equality filters instead of `metadata.<key>` parameters, and where
 * and when the episode happened (SPEC §3.5: its own location near a point or in a box, its span overlapping
 * a window).
 */
export const EpisodeFilter = z
  .strictObject({
    ...filterShape,
    metadata: Metadata.optional().describe('Metadata equality: every key given'),
    near: Near.optional().describe("The episode's location within radius_m of a point"),
    within: Within.optional().describe("The episode's location inside a box"),
    time: TimeWindow.optional(),
  })
  .superRefine(oneOfNearWithin)
  .describe('Episode filters, combined with AND, as in GET /v1/episodes, and where and when (SPEC §3.5)');
export type EpisodeFilter = z.infer<typeof EpisodeFilter>;

/** The filters of a validated list query. */
export function filterOfListQuery(query: EpisodeListQuery): EpisodeFilter {
  const filter: Record<string, unknown> = { metadata: metadataFilters(query) };
  for (const key of Object.keys(filterShape)) if (query[key] !== undefined) filter[key] = query[key];
  return filter as EpisodeFilter;
}
