import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  normaliseTags,
  Timestamp,
  TimestampOut,
  timestampToMs,
  toCanonicalTimestamp,
  utf8Bytes,
} from '../../src/domain/common.js';
import {
  EpisodeBatchCreate,
  EpisodeComplete,
  EpisodeCreate,
  EpisodePatch,
  EpisodeRecord,
} from '../../src/domain/episode.js';
import { EpisodeListQuery, metadataFilters } from '../../src/domain/episode-list.js';
import {
  MAX_ARTIFACT_BYTES,
  MAX_BATCH_EPISODES,
  MAX_CONTEXT_TAGS,
  MAX_EMBEDDING_DIMENSION,
  MAX_EPISODE_BYTES,
  MAX_QUERY_TEXT_CHARS,
  MAX_STEPS_PER_EPISODE,
  MAX_TASK_DESCRIPTION_BYTES,
  MAX_TEXT_BYTES,
} from '../../src/domain/limits.js';
import { validEpisodeCreate } from '../helpers/arbitraries.js';

const episode = {
  task_type: 'debugging',
  task_description: 'fix the flaky test',
  context: { domain: 'web' },
};
const id = '0190f5c2-7d1e-7a3b-8c4d-5e6f7a8b9c0d';
const otherId = '3f2b8c1a-9d4e-4f6a-8b7c-1d2e3f4a5b6c';
const reward = {
  total: 1.2,
  base: 1,
  efficiency: 1.1,
  complexity_bonus: 1,
  quality_multiplier: 1,
  learning_bonus: 0.1,
};

/** The issues of a failed parse as `{ path: '/a/0/b', message }`; [] when it passed. */
function issues(schema: z.ZodType, value: unknown) {
  const result = schema.safeParse(value);
  return result.success
    ? []
    : result.error.issues.map((i) => ({ path: `/${i.path.join('/')}`, message: i.message }));
}

const pathsOf = (schema: z.ZodType, value: unknown) => issues(schema, value).map((i) => i.path);

describe('Timestamp', () => {
  it.each([
    '2026-11-25T17:37:08Z',
    '2026-11-25T17:37:08.1Z',
    '2026-11-25T17:37:08.12Z',
    '2026-11-25T17:37:08.123Z',
    '2026-11-25T17:37:08.123+05:30',
    '2026-11-25T17:37:08-08:00',
    '2024-02-29T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z',
  ])('%s: accepted', (s) => {
    expect(issues(Timestamp, s)).toEqual([]);
  });

  it.each([
    ['4 fractional digits', '2026-11-25T17:37:08.1234Z'],
    ['no seconds', '2026-11-25T17:37Z'],
    ['no zone', '2026-11-25T17:37:08'],
    ['a date only', '2026-11-25'],
    ['lower-case separators', '2026-11-25t17:37:08z'],
    ['a space separator', '2026-11-25 17:37:08Z'],
    ['February 29 of a common year', '2025-02-29T00:00:00Z'],
    ['April 31', '2026-04-31T00:00:00Z'],
    ['hour 24', '2026-11-25T24:00:00Z'],
    ['a leap second', '2026-12-31T23:59:60Z'],
    ['offset +24:00', '2026-11-25T17:37:08+24:00'],
    ['offset without a colon', '2026-11-25T17:37:08+0100'],
    ['a year before 0000 in UTC', '0000-01-01T00:00:00+01:00'],
    ['a number', 1_764_092_228_123],
  ])('%s: rejected', (_, s) => {
    expect(issues(Timestamp, s)).toHaveLength(1);
  });

  it('offset and short fraction: canonical form is UTC with 3 digits', () => {
    expect(toCanonicalTimestamp('2026-01-01T00:30:00.5+01:00')).toBe('2025-12-31T23:30:00.500Z');
    expect(toCanonicalTimestamp('2026-11-25T17:37:08Z')).toBe('2026-11-25T17:37:08.000Z');
  });

  it('early years: canonical form keeps four digits', () => {
    expect(toCanonicalTimestamp('0001-01-01T00:00:00+00:00')).toBe('0001-01-01T00:00:00.000Z');
  });

  it('timestampToMs: the instant, whatever the offset', () => {
    expect(timestampToMs('2026-11-25T18:37:08.123+01:00')).toBe(Date.parse('2026-11-25T17:37:08.123Z'));
  });

  it('invalid timestamp given to the helpers: RangeError naming it', () => {
    expect(() => toCanonicalTimestamp('2026-02-30T00:00:00Z')).toThrow(
      'invalid timestamp "2026-02-30T00:00:00Z"',
    );
  });

  it('any canonical timestamp: a fixed point of toCanonicalTimestamp and valid for responses', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0000-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        (date) => {
          const canonical = date.toISOString();
          expect(toCanonicalTimestamp(canonical)).toBe(canonical);
          expect(TimestampOut.safeParse(canonical).success).toBe(true);
        },
      ),
    );
  });

  it('response timestamp with an offset or without milliseconds: rejected', () => {
    expect(TimestampOut.safeParse('2026-11-25T17:37:08.123+00:00').success).toBe(false);
    expect(TimestampOut.safeParse('2026-11-25T17:37:08Z').success).toBe(false);
  });
});

describe('EpisodeCreate', () => {
  it('minimal body: defaults filled, nothing invented', () => {
    expect(EpisodeCreate.parse(episode)).toEqual({
      ...episode,
      context: { domain: 'web', complexity: 'moderate', tags: [] },
      tags: [],
      patterns: [],
      heuristics: [],
      applied_patterns: [],
      metadata: {},
      archived: false,
      steps: [],
    });
  });

  it.each(['status', 'step_count', 'tenant', 'version', 'created_at', 'taskType'])(
    'read-only or unknown field %s: rejected naming it',
    (field) => {
      expect(issues(EpisodeCreate, { ...episode, [field]: 'x' })).toEqual([
        { path: '/', message: `Unrecognized key: "${field}"` },
      ]);
    },
  );

  it('missing required fields: each reported at its path', () => {
    expect(pathsOf(EpisodeCreate, {})).toEqual(['/task_type', '/task_description', '/context']);
  });

  it('unknown task_type: rejected at /task_type', () => {
    expect(pathsOf(EpisodeCreate, { ...episode, task_type: 'CodeGeneration' })).toEqual(['/task_type']);
  });

  it(`task_description of ${MAX_TASK_DESCRIPTION_BYTES} bytes: accepted; one more: rejected`, () => {
    const multibyte = 'ü'.repeat(MAX_TASK_DESCRIPTION_BYTES / 2);
    expect(issues(EpisodeCreate, { ...episode, task_description: multibyte })).toEqual([]);
    expect(issues(EpisodeCreate, { ...episode, task_description: `${multibyte}!` })).toEqual([
      {
        path: '/task_description',
        message: `must be at most ${MAX_TASK_DESCRIPTION_BYTES} bytes of UTF-8 (got ${MAX_TASK_DESCRIPTION_BYTES + 1})`,
      },
    ]);
  });

  it('empty task_description: rejected', () => {
    expect(issues(EpisodeCreate, { ...episode, task_description: '' })).toEqual([
      { path: '/task_description', message: 'must not be empty' },
    ]);
  });

  it('context.domain: 200 characters accepted, 201 and empty rejected, missing reported', () => {
    const withDomain = (domain?: string) => ({ ...episode, context: { domain } });
    expect(issues(EpisodeCreate, withDomain('d'.repeat(200)))).toEqual([]);
    expect(pathsOf(EpisodeCreate, withDomain('d'.repeat(201)))).toEqual(['/context/domain']);
    expect(pathsOf(EpisodeCreate, withDomain(''))).toEqual(['/context/domain']);
    expect(pathsOf(EpisodeCreate, withDomain(undefined))).toEqual(['/context/domain']);
  });

  it('context with every field: kept as given', () => {
    const context = {
      domain: 'web',
      language: 'rust',
      framework: 'axum',
      complexity: 'complex',
      tags: ['A b'],
    };
    expect(EpisodeCreate.parse({ ...episode, context }).context).toEqual(context);
  });

  it('context with an unknown field or a bad complexity: rejected at the context', () => {
    expect(issues(EpisodeCreate, { ...episode, context: { domain: 'web', lang: 'go' } })).toEqual([
      { path: '/context', message: 'Unrecognized key: "lang"' },
    ]);
    expect(pathsOf(EpisodeCreate, { ...episode, context: { domain: 'web', complexity: 'hard' } })).toEqual([
      '/context/complexity',
    ]);
  });

  it(`context.tags: ${MAX_CONTEXT_TAGS} accepted, ${MAX_CONTEXT_TAGS + 1} rejected; items of 200 characters max`, () => {
    const withTags = (tags: string[]) => ({ ...episode, context: { domain: 'web', tags } });
    expect(issues(EpisodeCreate, withTags(Array(MAX_CONTEXT_TAGS).fill('t')))).toEqual([]);
    expect(pathsOf(EpisodeCreate, withTags(Array(MAX_CONTEXT_TAGS + 1).fill('t')))).toEqual([
      '/context/tags',
    ]);
    expect(issues(EpisodeCreate, withTags(['t'.repeat(200)]))).toEqual([]);
    expect(pathsOf(EpisodeCreate, withTags(['ok', 't'.repeat(201)]))).toEqual(['/context/tags/1']);
  });

  it('agent_id and session_id: 200 characters accepted, 201 rejected', () => {
    expect(
      issues(EpisodeCreate, { ...episode, agent_id: 'a'.repeat(200), session_id: 's'.repeat(200) }),
    ).toEqual([]);
    expect(
      pathsOf(EpisodeCreate, { ...episode, agent_id: 'a'.repeat(201), session_id: 's'.repeat(201) }),
    ).toEqual(['/agent_id', '/session_id']);
  });

  it('client id: lower-case UUID accepted; upper-case or malformed rejected at /id', () => {
    expect(issues(EpisodeCreate, { ...episode, id })).toEqual([]);
    expect(pathsOf(EpisodeCreate, { ...episode, id: id.toUpperCase() })).toEqual(['/id']);
    expect(pathsOf(EpisodeCreate, { ...episode, id: 'episode-1' })).toEqual(['/id']);
  });

  it(`${MAX_STEPS_PER_EPISODE} steps: accepted; ${MAX_STEPS_PER_EPISODE + 1}: rejected at /steps`, () => {
    const step = { tool: 'shell', action: 'ls' };
    expect(issues(EpisodeCreate, { ...episode, steps: Array(MAX_STEPS_PER_EPISODE).fill(step) })).toEqual([]);
    expect(issues(EpisodeCreate, { ...episode, steps: Array(MAX_STEPS_PER_EPISODE + 1).fill(step) })).toEqual(
      [{ path: '/steps', message: `must have at most ${MAX_STEPS_PER_EPISODE} steps` }],
    );
  });

  it('invalid field deep in a step: path points at it', () => {
    const steps = [0, 1, 2, 3].map((n) => ({ tool: 'shell', action: n === 3 ? '' : 'ls' }));
    expect(issues(EpisodeCreate, { ...episode, steps })).toEqual([
      { path: '/steps/3/action', message: 'must not be empty' },
    ]);
  });

  it('duplicate step numbers: rejected at the second one', () => {
    const steps = [
      { tool: 'a', action: 'x', step_number: 1 },
      { tool: 'a', action: 'y', step_number: 1 },
    ];
    expect(pathsOf(EpisodeCreate, { ...episode, steps })).toEqual(['/steps/1/step_number']);
  });

  it('end_time before start_time: rejected at /end_time; equal instants in other offsets: accepted', () => {
    const span = { start_time: '2026-11-25T12:00:00Z', end_time: '2026-11-25T11:59:59.999Z' };
    expect(issues(EpisodeCreate, { ...episode, ...span })).toEqual([
      { path: '/end_time', message: 'must not be earlier than start_time' },
    ]);
    const same = { start_time: '2026-11-25T12:00:00Z', end_time: '2026-11-25T13:00:00+01:00' };
    expect(issues(EpisodeCreate, { ...episode, ...same })).toEqual([]);
  });

  it('invalid start_time with an end_time: only the bad timestamp is reported', () => {
    expect(
      pathsOf(EpisodeCreate, { ...episode, start_time: 'soon', end_time: '2026-11-25T12:00:00Z' }),
    ).toEqual(['/start_time']);
  });

  it.each([
    [{ type: 'success', verdict: 'ok', artifacts: ['diff'] }],
    [{ type: 'partial_success', verdict: 'half', completed: ['a'], failed: ['b'] }],
    [{ type: 'failure', reason: 'crash', error_details: 'stack' }],
    [{ type: 'failure', reason: 'crash' }],
    [{ type: 'abstained', reason: 'infeasible', stopped_at_step: 0, infeasibility_signals: ['no access'] }],
  ])('outcome %j: accepted as given', (outcome) => {
    expect(EpisodeCreate.parse({ ...episode, outcome }).outcome).toEqual(outcome);
  });

  it('outcome lists left out: read as empty lists', () => {
    expect(EpisodeCreate.parse({ ...episode, outcome: { type: 'success', verdict: 'ok' } }).outcome).toEqual({
      type: 'success',
      verdict: 'ok',
      artifacts: [],
    });
  });

  it('outcome of unknown type: rejected at /outcome/type', () => {
    expect(pathsOf(EpisodeCreate, { ...episode, outcome: { type: 'Success', verdict: 'ok' } })).toEqual([
      '/outcome/type',
    ]);
  });

  it("outcome with another variant's field: rejected naming it", () => {
    expect(
      issues(EpisodeCreate, { ...episode, outcome: { type: 'success', verdict: 'ok', reason: 'x' } }),
    ).toEqual([{ path: '/outcome', message: 'Unrecognized key: "reason"' }]);
  });

  it('outcome without its required text or with a negative stopped_at_step: rejected at the field', () => {
    expect(pathsOf(EpisodeCreate, { ...episode, outcome: { type: 'failure' } })).toEqual(['/outcome/reason']);
    const abstained = { type: 'abstained', reason: 'r', stopped_at_step: -1 };
    expect(pathsOf(EpisodeCreate, { ...episode, outcome: abstained })).toEqual(['/outcome/stopped_at_step']);
  });

  it(`artifact of ${MAX_ARTIFACT_BYTES} bytes: accepted; one more: rejected at /outcome/artifacts/<i>`, () => {
    const artifact = 'a'.repeat(MAX_ARTIFACT_BYTES);
    const outcome = (artifacts: string[]) => ({
      ...episode,
      outcome: { type: 'success', verdict: 'ok', artifacts },
    });
    expect(issues(EpisodeCreate, outcome(['small', artifact]))).toEqual([]);
    expect(pathsOf(EpisodeCreate, outcome(['small', `${artifact}a`]))).toEqual(['/outcome/artifacts/1']);
  });

  it(`error_details of ${MAX_ARTIFACT_BYTES} bytes: accepted; one more: rejected`, () => {
    const failure = (error_details: string) => ({
      ...episode,
      outcome: { type: 'failure', reason: 'r', error_details },
    });
    expect(issues(EpisodeCreate, failure('e'.repeat(MAX_ARTIFACT_BYTES)))).toEqual([]);
    expect(pathsOf(EpisodeCreate, failure('e'.repeat(MAX_ARTIFACT_BYTES + 1)))).toEqual([
      '/outcome/error_details',
    ]);
  });

  it(`verdict of ${MAX_TEXT_BYTES} bytes: accepted; one more: rejected`, () => {
    const success = (verdict: string) => ({ ...episode, outcome: { type: 'success', verdict } });
    expect(issues(EpisodeCreate, success('v'.repeat(MAX_TEXT_BYTES)))).toEqual([]);
    expect(pathsOf(EpisodeCreate, success('v'.repeat(MAX_TEXT_BYTES + 1)))).toEqual(['/outcome/verdict']);
  });

  it('reward: accepted as given, abstention_score optional; a missing component rejected at its path', () => {
    expect(EpisodeCreate.parse({ ...episode, reward }).reward).toEqual(reward);
    expect(EpisodeCreate.parse({ ...episode, reward: { ...reward, abstention_score: -0.5 } }).reward).toEqual(
      {
        ...reward,
        abstention_score: -0.5,
      },
    );
    const { base: _, ...noBase } = reward;
    expect(pathsOf(EpisodeCreate, { ...episode, reward: noBase })).toEqual(['/reward/base']);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'reward.total %s: rejected',
    (total) => {
      expect(pathsOf(EpisodeCreate, { ...episode, reward: { ...reward, total } })).toEqual(['/reward/total']);
    },
  );

  it('reflection: generated_at required and must be a timestamp', () => {
    const reflection = {
      successes: ['a'],
      improvements: [],
      insights: ['b'],
      generated_at: '2026-11-25T17:37:08Z',
    };
    expect(EpisodeCreate.parse({ ...episode, reflection }).reflection).toEqual(reflection);
    expect(pathsOf(EpisodeCreate, { ...episode, reflection: { successes: [] } })).toEqual([
      '/reflection/generated_at',
    ]);
    expect(
      pathsOf(EpisodeCreate, { ...episode, reflection: { ...reflection, generated_at: 'now' } }),
    ).toEqual(['/reflection/generated_at']);
  });

  it('applied_patterns: valid entry accepted; unknown outcome and bad id rejected at their paths', () => {
    const applied = { pattern_id: id, applied_at_step: 3, outcome: 'helped', notes: 'n' };
    expect(EpisodeCreate.parse({ ...episode, applied_patterns: [applied] }).applied_patterns).toEqual([
      applied,
    ]);
    expect(
      pathsOf(EpisodeCreate, {
        ...episode,
        applied_patterns: [applied, { ...applied, pattern_id: 'p1', outcome: 'worked' }],
      }),
    ).toEqual(['/applied_patterns/1/pattern_id', '/applied_patterns/1/outcome']);
  });

  it('salient_features: tool combinations kept as nested lists', () => {
    const salient_features = {
      critical_decisions: ['use a lock'],
      tool_combinations: [['grep', 'sed'], []],
      error_recovery_patterns: [],
      key_insights: ['x'],
    };
    expect(EpisodeCreate.parse({ ...episode, salient_features }).salient_features).toEqual(salient_features);
  });

  it('patterns and heuristics: lists of UUIDs', () => {
    expect(issues(EpisodeCreate, { ...episode, patterns: [id], heuristics: [otherId] })).toEqual([]);
    expect(pathsOf(EpisodeCreate, { ...episode, patterns: [id, 'nope'] })).toEqual(['/patterns/1']);
  });

  it(`embedding of ${MAX_EMBEDDING_DIMENSION} numbers: accepted; ${MAX_EMBEDDING_DIMENSION + 1} or none: rejected`, () => {
    const embedding = (vector: number[], model = 'all-MiniLM-L6-v2') => ({
      ...episode,
      embedding: { model, vector },
    });
    expect(issues(EpisodeCreate, embedding(Array(MAX_EMBEDDING_DIMENSION).fill(0.5)))).toEqual([]);
    expect(pathsOf(EpisodeCreate, embedding(Array(MAX_EMBEDDING_DIMENSION + 1).fill(0.5)))).toEqual([
      '/embedding/vector',
    ]);
    expect(pathsOf(EpisodeCreate, embedding([]))).toEqual(['/embedding/vector']);
    expect(pathsOf(EpisodeCreate, embedding([1, Number.NaN]))).toEqual(['/embedding/vector/1']);
    expect(pathsOf(EpisodeCreate, embedding([1], 'm'.repeat(201)))).toEqual(['/embedding/model']);
  });

  it(`whole episode of exactly ${MAX_EPISODE_BYTES} bytes as JSON: accepted; one more: rejected at the root`, () => {
    const chunk = 'a'.repeat(MAX_ARTIFACT_BYTES);
    const withPadding = (padding: number) => ({
      ...episode,
      outcome: { type: 'success', verdict: '', artifacts: [...Array(9).fill(chunk), 'a'.repeat(padding)] },
    });
    const base = utf8Bytes(JSON.stringify(EpisodeCreate.parse(withPadding(0))));
    const exact = withPadding(MAX_EPISODE_BYTES - base);
    expect(issues(EpisodeCreate, exact)).toEqual([]);
    expect(issues(EpisodeCreate, withPadding(MAX_EPISODE_BYTES - base + 1))).toEqual([
      {
        path: '/',
        message: `the episode must be at most ${MAX_EPISODE_BYTES} bytes as JSON, steps included (got ${MAX_EPISODE_BYTES + 1})`,
      },
    ]);
  });
});

describe('EpisodeBatchCreate', () => {
  it(`${MAX_BATCH_EPISODES} episodes: accepted; ${MAX_BATCH_EPISODES + 1} or none: rejected at /episodes`, () => {
    expect(issues(EpisodeBatchCreate, { episodes: Array(MAX_BATCH_EPISODES).fill(episode) })).toEqual([]);
    expect(issues(EpisodeBatchCreate, { episodes: Array(MAX_BATCH_EPISODES + 1).fill(episode) })).toEqual([
      { path: '/episodes', message: `must have at most ${MAX_BATCH_EPISODES} episodes` },
    ]);
    expect(issues(EpisodeBatchCreate, { episodes: [] })).toEqual([
      { path: '/episodes', message: 'must have at least one episode' },
    ]);
  });

  it('invalid episode in a batch: path points into it', () => {
    expect(pathsOf(EpisodeBatchCreate, { episodes: [episode, { ...episode, task_type: 'x' }] })).toEqual([
      '/episodes/1/task_type',
    ]);
  });

  it('two episodes with the same client id: rejected at the second', () => {
    const episodes = [
      { ...episode, id },
      { ...episode, id: otherId },
      { ...episode, id },
    ];
    expect(issues(EpisodeBatchCreate, { episodes })).toEqual([
      { path: '/episodes/2/id', message: 'is also the id of the episode at index 0' },
    ]);
  });
});

describe('EpisodePatch', () => {
  it('empty patch: accepted as a no-op', () => {
    expect(EpisodePatch.parse({})).toEqual({});
  });

  it('patch: parsed exactly as sent, no defaults added', () => {
    const patch = { context: { language: 'go' }, salient_features: { key_insights: ['k'] }, archived: true };
    expect(EpisodePatch.parse({ context: { language: 'go' }, archived: true })).toEqual({
      context: { language: 'go' },
      archived: true,
    });
    expect(EpisodePatch.parse(patch).context).toEqual({ language: 'go' });
  });

  it.each(['outcome', 'reward', 'reflection', 'salient_features', 'location', 'end_time'])(
    '%s: null accepted (removes it)',
    (field) => {
      expect(EpisodePatch.parse({ [field]: null })).toEqual({ [field]: null });
    },
  );

  it.each(['task_description', 'context', 'tags', 'metadata', 'applied_patterns', 'archived'])(
    '%s: null rejected (not removable)',
    (field) => {
      expect(pathsOf(EpisodePatch, { [field]: null })).toEqual([`/${field}`]);
    },
  );

  it('metadata: null values accepted (delete the key), keys still validated', () => {
    expect(EpisodePatch.parse({ metadata: { keep: 'v', drop: null } })).toEqual({
      metadata: { keep: 'v', drop: null },
    });
    expect(pathsOf(EpisodePatch, { metadata: { 'bad key': null } })).toEqual(['/metadata/bad key']);
  });

  it('context: language and framework removable with null, domain not', () => {
    expect(EpisodePatch.parse({ context: { language: null, framework: null } })).toEqual({
      context: { language: null, framework: null },
    });
    expect(pathsOf(EpisodePatch, { context: { domain: null } })).toEqual(['/context/domain']);
  });

  it.each(['id', 'task_type', 'start_time', 'agent_id', 'steps', 'status', 'version', 'patterns'])(
    'field %s that a patch cannot change: rejected naming it',
    (field) => {
      expect(issues(EpisodePatch, { [field]: 'x' })).toEqual([
        { path: '/', message: `Unrecognized key: "${field}"` },
      ]);
    },
  );

  it('values are validated as on create', () => {
    expect(pathsOf(EpisodePatch, { task_description: '', end_time: '2026-11-25T17:37:08.1234Z' })).toEqual([
      '/task_description',
      '/end_time',
    ]);
  });
});

describe('EpisodeComplete', () => {
  it('outcome only: accepted', () => {
    expect(EpisodeComplete.parse({ outcome: { type: 'failure', reason: 'r' } })).toEqual({
      outcome: { type: 'failure', reason: 'r' },
    });
  });

  it('without outcome: rejected at /outcome; unknown field rejected', () => {
    expect(pathsOf(EpisodeComplete, { reward })).toEqual(['/outcome']);
    expect(
      issues(EpisodeComplete, { outcome: { type: 'timeout' }, status: 'completed' }).map((i) => i.path),
    ).toEqual(['/outcome/type', '/']);
  });
});

describe('EpisodeRecord', () => {
  const record = {
    id,
    tenant: 'default',
    agent_id: null,
    session_id: 's1',
    task_type: 'testing',
    task_description: 'write tests',
    context: { domain: 'web', complexity: 'simple', tags: [] },
    tags: ['ci', 'rust'],
    start_time: '2026-11-25T17:37:08.123Z',
    end_time: null,
    status: 'in_progress',
    outcome: null,
    reward: null,
    reflection: { successes: [], improvements: [], insights: [], generated_at: '2026-11-25T17:40:00.000Z' },
    patterns: [],
    heuristics: [],
    applied_patterns: [],
    salient_features: null,
    metadata: { k: 'v' },
    location: { lat: 1, lon: 2 },
    archived: false,
    step_count: 0,
    created_at: '2026-11-25T17:37:08.123Z',
    updated_at: '2026-11-25T17:37:08.123Z',
    version: 1,
  };

  it('full record: encodes for the response unchanged (no transforms)', () => {
    expect(z.encode(EpisodeRecord, record as EpisodeRecord)).toEqual(record);
  });

  it('with steps included: encodes', () => {
    const step = {
      episode_id: id,
      step_number: 1,
      timestamp: '2026-11-25T17:37:09.000Z',
      tool: 'shell',
      action: 'ls',
      parameters: {},
      result: null,
      latency_ms: null,
      tokens_used: null,
      metadata: {},
      location: null,
    };
    expect(EpisodeRecord.safeParse({ ...record, step_count: 1, steps: [step] }).success).toBe(true);
  });

  it('non-canonical reflection time or un-normalised tag: rejected, the service must canonicalise', () => {
    const reflection = { ...record.reflection, generated_at: '2026-11-25T17:40:00Z' };
    expect(pathsOf(EpisodeRecord, { ...record, reflection })).toEqual(['/reflection/generated_at']);
    expect(pathsOf(EpisodeRecord, { ...record, tags: ['CI'] })).toEqual(['/tags/0']);
  });
});

describe('EpisodeListQuery', () => {
  it('no parameters: defaults', () => {
    expect(EpisodeListQuery.parse({})).toEqual({
      limit: 50,
      tags_match: 'any',
      archived: 'false',
      sort: 'start_time_desc',
    });
  });

  it('every filter as query strings: parsed, repeatables as lists, numbers coerced', () => {
    const query = {
      limit: '10',
      cursor: 'c1',
      task_type: ['debugging', 'testing'],
      domain: 'web',
      language: 'rust',
      agent_id: 'a',
      session_id: 's',
      tag: 'ci',
      tags_match: 'all',
      status: 'completed',
      outcome: 'failure',
      min_reward: '-0.5',
      max_reward: '1e1',
      started_after: '2026-01-01T00:00:00Z',
      started_before: '2026-02-01T00:00:00.000+01:00',
      archived: 'any',
      q: 'flaky test',
      sort: 'reward_desc',
      include: 'steps',
    };
    expect(EpisodeListQuery.parse(query)).toEqual({
      ...query,
      limit: 10,
      tag: ['ci'],
      outcome: ['failure'],
      min_reward: -0.5,
      max_reward: 10,
    });
  });

  it('limit: 1 and 1000 accepted; 0, 1001 and empty rejected at /limit', () => {
    expect(EpisodeListQuery.parse({ limit: '1' }).limit).toBe(1);
    expect(EpisodeListQuery.parse({ limit: '1000' }).limit).toBe(1000);
    for (const limit of ['0', '1001', '']) expect(pathsOf(EpisodeListQuery, { limit })).toEqual(['/limit']);
  });

  it.each(['', 'Infinity', 'abc', 'NaN'])(
    'min_reward=%j: rejected at /min_reward (never read as 0)',
    (value) => {
      expect(issues(EpisodeListQuery, { min_reward: value })).toEqual([
        { path: '/min_reward', message: 'must be a finite number' },
      ]);
    },
  );

  it(`q: ${MAX_QUERY_TEXT_CHARS} characters accepted, ${MAX_QUERY_TEXT_CHARS + 1} rejected`, () => {
    expect(issues(EpisodeListQuery, { q: 'q'.repeat(MAX_QUERY_TEXT_CHARS) })).toEqual([]);
    expect(pathsOf(EpisodeListQuery, { q: 'q'.repeat(MAX_QUERY_TEXT_CHARS + 1) })).toEqual(['/q']);
  });

  it('bad enum values: each rejected at its parameter', () => {
    const query = {
      task_type: ['debugging', 'coding'],
      archived: 'yes',
      sort: 'newest',
      include: 'tags',
      status: 'done',
    };
    expect(pathsOf(EpisodeListQuery, query)).toEqual([
      '/task_type/1',
      '/status',
      '/archived',
      '/sort',
      '/include',
    ]);
  });

  it('unknown parameter: rejected with a message naming it', () => {
    const [issue] = issues(EpisodeListQuery, { tags: 'ci' });
    expect(issue?.path).toBe('/tags');
    expect(issue?.message).toMatch(
      /^unknown query parameter "tags"; known: limit, cursor, .*metadata\.<key>$/,
    );
  });

  it('metadata.<key> filters: accepted and read back as a key → value map', () => {
    const query = EpisodeListQuery.parse({ 'metadata.team': 'core', 'metadata.run.id': '7', domain: 'web' });
    expect(metadataFilters(query)).toEqual({ team: 'core', 'run.id': '7' });
  });

  it('no metadata filters: empty map', () => {
    expect(metadataFilters(EpisodeListQuery.parse({ domain: 'web' }))).toEqual({});
  });

  it('metadata filter with a bad key or given twice: rejected at the parameter', () => {
    expect(
      issues(EpisodeListQuery, { 'metadata.bad key': 'x', 'metadata.team': ['a', 'b'], 'metadata.': 'y' }),
    ).toEqual([
      { path: '/metadata.bad key', message: 'metadata key must be 1..64 characters of A-Z a-z 0-9 _ . -' },
      { path: '/metadata.team', message: 'a metadata filter may be given only once' },
      { path: '/metadata.', message: 'metadata key must be 1..64 characters of A-Z a-z 0-9 _ . -' },
    ]);
  });

  it('started_after with too many fractional digits: rejected at /started_after', () => {
    expect(pathsOf(EpisodeListQuery, { started_after: '2026-01-01T00:00:00.0001Z' })).toEqual([
      '/started_after',
    ]);
  });
});

describe('validEpisodeCreate arbitrary', () => {
  it('every generated episode: passes EpisodeCreate, with tags normalised and timestamps canonical', () => {
    fc.assert(
      fc.property(validEpisodeCreate({ withSteps: true }), (body) => {
        expect(issues(EpisodeCreate, body)).toEqual([]);
        expect(normaliseTags(body.tags ?? [])).toEqual(body.tags ?? []);
        const times = [
          body.start_time,
          body.end_time,
          body.reflection?.generated_at,
          ...(body.steps ?? []).map((s) => s.timestamp),
        ];
        for (const time of times) if (time !== undefined) expect(toCanonicalTimestamp(time)).toBe(time);
      }),
      { numRuns: 200 },
    );
  });

  it('without withSteps: no steps key', () => {
    fc.assert(
      fc.property(validEpisodeCreate(), (body) => {
        expect(body).not.toHaveProperty('steps');
      }),
      { numRuns: 20 },
    );
  });
});
