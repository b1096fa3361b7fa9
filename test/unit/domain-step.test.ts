import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MetadataKey } from '../../src/domain/common.js';
import {
  MAX_METADATA_KEY_CHARS,
  MAX_METADATA_KEYS,
  MAX_METADATA_VALUE_BYTES,
  MAX_STEP_PARAMETERS_BYTES,
  MAX_STEP_TEXT_BYTES,
  MAX_STEPS_PER_EPISODE,
} from '../../src/domain/limits.js';
import {
  appendedSteps,
  GlobalStepListQuery,
  StepAppend,
  StepCreate,
  StepListQuery,
  StepRecord,
} from '../../src/domain/step.js';
import { validStepCreate } from '../helpers/arbitraries.js';

const step = { tool: 'shell', action: 'ls -la' };

/** The issues of a failed parse as `{ path: '/a/0/b', message }`; [] when it passed. */
function issues(schema: z.ZodType, value: unknown) {
  const result = schema.safeParse(value);
  return result.success
    ? []
    : result.error.issues.map((i) => ({ path: `/${i.path.join('/')}`, message: i.message }));
}

/** A parameters object whose JSON serialization is exactly `bytes` long. */
function parametersOfSize(bytes: number) {
  const overhead = JSON.stringify({ p: '' }).length;
  return { p: 'x'.repeat(bytes - overhead) };
}

describe('StepCreate', () => {
  it('minimal step: defaults filled, nothing else added', () => {
    expect(StepCreate.parse(step)).toEqual({ ...step, parameters: {}, result: null, metadata: {} });
  });

  it('unknown field: rejected naming it', () => {
    expect(issues(StepCreate, { ...step, output: 'x' })).toEqual([
      { path: '/', message: 'Unrecognized key: "output"' },
    ]);
  });

  it('missing tool and action: both reported at their paths', () => {
    expect(issues(StepCreate, {}).map((i) => i.path)).toEqual(['/tool', '/action']);
  });

  it('tool of 200 characters: accepted; 201: rejected at /tool', () => {
    expect(issues(StepCreate, { ...step, tool: 't'.repeat(200) })).toEqual([]);
    expect(issues(StepCreate, { ...step, tool: 't'.repeat(201) })).toEqual([
      { path: '/tool', message: 'must be at most 200 characters' },
    ]);
  });

  it('empty action: rejected at /action', () => {
    expect(issues(StepCreate, { ...step, action: '' })).toEqual([
      { path: '/action', message: 'must not be empty' },
    ]);
  });

  it(`action of ${MAX_STEP_TEXT_BYTES} ASCII bytes: accepted; one byte more: rejected at /action`, () => {
    expect(issues(StepCreate, { ...step, action: 'a'.repeat(MAX_STEP_TEXT_BYTES) })).toEqual([]);
    expect(issues(StepCreate, { ...step, action: 'a'.repeat(MAX_STEP_TEXT_BYTES + 1) })).toEqual([
      {
        path: '/action',
        message: `must be at most ${MAX_STEP_TEXT_BYTES} bytes of UTF-8 (got ${MAX_STEP_TEXT_BYTES + 1})`,
      },
    ]);
  });

  it('action limit counts UTF-8 bytes, not characters', () => {
    const twoByteChars = 'é'.repeat(MAX_STEP_TEXT_BYTES / 2);
    expect(issues(StepCreate, { ...step, action: twoByteChars })).toEqual([]);
    expect(issues(StepCreate, { ...step, action: `${twoByteChars}a` })[0]?.path).toBe('/action');
    const emoji = '😀'.repeat(MAX_STEP_TEXT_BYTES / 4);
    expect(issues(StepCreate, { ...step, action: emoji })).toEqual([]);
    expect(issues(StepCreate, { ...step, action: `${emoji}a` })[0]?.path).toBe('/action');
  });

  it('unpaired surrogate in action: rejected, since UTF-8 cannot store it', () => {
    expect(issues(StepCreate, { ...step, action: 'bad \uD800 half' })).toEqual([
      { path: '/action', message: 'must be well-formed Unicode: it contains an unpaired surrogate' },
    ]);
  });

  it(`parameters of exactly ${MAX_STEP_PARAMETERS_BYTES} bytes as JSON: accepted; one byte more: rejected at /parameters`, () => {
    expect(issues(StepCreate, { ...step, parameters: parametersOfSize(MAX_STEP_PARAMETERS_BYTES) })).toEqual(
      [],
    );
    expect(
      issues(StepCreate, { ...step, parameters: parametersOfSize(MAX_STEP_PARAMETERS_BYTES + 1) }),
    ).toEqual([
      {
        path: '/parameters',
        message: `must be at most ${MAX_STEP_PARAMETERS_BYTES} bytes as JSON (got ${MAX_STEP_PARAMETERS_BYTES + 1})`,
      },
    ]);
  });

  it('nested parameters: passed through untouched', () => {
    const nested = { deep: [1, { x: null, y: 'é' }], flag: true };
    const parsed = StepCreate.parse({ ...step, parameters: { nested } });
    expect(parsed.parameters.nested).toBe(nested);
  });

  it.each([
    ['an array', [1, 2]],
    ['a string', '{}'],
    ['null', null],
  ])('parameters as %s: rejected at /parameters', (_, parameters) => {
    expect(issues(StepCreate, { ...step, parameters })[0]?.path).toBe('/parameters');
  });

  it.each([
    [{ type: 'success', output: 'done' }],
    [{ type: 'success', output: '' }],
    [{ type: 'error', message: 'boom' }],
    [{ type: 'timeout' }],
    [null],
  ])('result %j: accepted as given', (result) => {
    expect(StepCreate.parse({ ...step, result }).result).toEqual(result);
  });

  it('result of unknown type: rejected at /result/type', () => {
    expect(issues(StepCreate, { ...step, result: { type: 'crashed' } })[0]?.path).toBe('/result/type');
  });

  it('timeout result with a message: rejected naming the extra key', () => {
    expect(issues(StepCreate, { ...step, result: { type: 'timeout', message: 'x' } })).toEqual([
      { path: '/result', message: 'Unrecognized key: "message"' },
    ]);
  });

  it(`result output of ${MAX_STEP_TEXT_BYTES} bytes: accepted; one more: rejected at /result/output`, () => {
    const ok = { type: 'success', output: 'o'.repeat(MAX_STEP_TEXT_BYTES) };
    expect(issues(StepCreate, { ...step, result: ok })).toEqual([]);
    expect(issues(StepCreate, { ...step, result: { ...ok, output: `${ok.output}o` } })[0]?.path).toBe(
      '/result/output',
    );
  });

  it(`error message of ${MAX_STEP_TEXT_BYTES} bytes: accepted; one more: rejected at /result/message`, () => {
    const ok = { type: 'error', message: 'm'.repeat(MAX_STEP_TEXT_BYTES) };
    expect(issues(StepCreate, { ...step, result: ok })).toEqual([]);
    expect(issues(StepCreate, { ...step, result: { ...ok, message: `${ok.message}m` } })[0]?.path).toBe(
      '/result/message',
    );
  });

  it('tokens_used: 0 accepted, -1 and 1.5 rejected', () => {
    expect(issues(StepCreate, { ...step, tokens_used: 0 })).toEqual([]);
    expect(issues(StepCreate, { ...step, tokens_used: -1 })[0]?.path).toBe('/tokens_used');
    expect(issues(StepCreate, { ...step, tokens_used: 1.5 })[0]?.path).toBe('/tokens_used');
  });

  it('latency_ms: 0 and fractions such as 2100.5 accepted (agents time steps in floats), -1 and -0.5 rejected', () => {
    for (const ok of [0, 2100.5, 0.001, 1e9])
      expect(issues(StepCreate, { ...step, latency_ms: ok })).toEqual([]);
    for (const bad of [-1, -0.5])
      expect(issues(StepCreate, { ...step, latency_ms: bad })[0]?.path).toBe('/latency_ms');
  });

  it('step_number: 1 accepted, 0 and 2.5 rejected', () => {
    expect(issues(StepCreate, { ...step, step_number: 1 })).toEqual([]);
    expect(issues(StepCreate, { ...step, step_number: 0 })[0]?.path).toBe('/step_number');
    expect(issues(StepCreate, { ...step, step_number: 2.5 })[0]?.path).toBe('/step_number');
  });

  it('timestamp with an offset: accepted as given (the service canonicalises)', () => {
    expect(StepCreate.parse({ ...step, timestamp: '2026-11-25T18:37:08.1+01:00' }).timestamp).toBe(
      '2026-11-25T18:37:08.1+01:00',
    );
  });

  it('timestamp with 4 fractional digits: rejected at /timestamp, not truncated', () => {
    expect(issues(StepCreate, { ...step, timestamp: '2026-11-25T17:37:08.1234Z' })).toEqual([
      {
        path: '/timestamp',
        message: 'must have at most 3 fractional digits: timestamps are stored to the millisecond',
      },
    ]);
  });

  it('location at the bounds: accepted; just outside: rejected at the coordinate', () => {
    const edge = { lat: -90, lon: 180, alt_m: -400, accuracy_m: 0, place: 'p'.repeat(200) };
    expect(issues(StepCreate, { ...step, location: edge })).toEqual([]);
    expect(issues(StepCreate, { ...step, location: { ...edge, lat: -90.000001 } })[0]?.path).toBe(
      '/location/lat',
    );
    expect(issues(StepCreate, { ...step, location: { ...edge, lon: 180.000001 } })[0]?.path).toBe(
      '/location/lon',
    );
    expect(issues(StepCreate, { ...step, location: { ...edge, accuracy_m: -1 } })[0]?.path).toBe(
      '/location/accuracy_m',
    );
    expect(issues(StepCreate, { ...step, location: { ...edge, place: 'p'.repeat(201) } })[0]?.path).toBe(
      '/location/place',
    );
    expect(issues(StepCreate, { ...step, location: { lat: 0 } })[0]?.path).toBe('/location/lon');
  });
});

describe('Metadata (as on steps and episodes)', () => {
  const withMetadata = (metadata: unknown) => issues(StepCreate, { ...step, metadata });
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

  it(`${MAX_METADATA_KEYS} keys: accepted; ${MAX_METADATA_KEYS + 1}: rejected at /metadata`, () => {
    expect(withMetadata(keys(MAX_METADATA_KEYS))).toEqual([]);
    expect(withMetadata(keys(MAX_METADATA_KEYS + 1))).toEqual([
      {
        path: '/metadata',
        message: `must have at most ${MAX_METADATA_KEYS} keys (got ${MAX_METADATA_KEYS + 1})`,
      },
    ]);
  });

  it(`key of ${MAX_METADATA_KEY_CHARS} characters: accepted; one more: rejected naming the key`, () => {
    const long = 'k'.repeat(MAX_METADATA_KEY_CHARS);
    expect(withMetadata({ [long]: 'v' })).toEqual([]);
    expect(withMetadata({ [`${long}k`]: 'v' })).toEqual([
      {
        path: `/metadata/${long}k`,
        message: `metadata key "${'k'.repeat(60)}…" must be 1..${MAX_METADATA_KEY_CHARS} characters of A-Z a-z 0-9 _ . -`,
      },
    ]);
  });

  it('key with a space or slash: rejected naming the key', () => {
    expect(withMetadata({ 'my key': 'v' })[0]?.message).toContain('metadata key "my key"');
    expect(withMetadata({ 'a/b': 'v' })[0]?.path).toBe('/metadata/a/b');
  });

  it('every allowed key character: accepted', () => {
    expect(withMetadata({ 'Az09_.-': 'v' })).toEqual([]);
  });

  it('__proto__ key: reserved', () => {
    expect(MetadataKey.safeParse('__proto__').error?.issues[0]?.message).toBe('is reserved');
  });

  it(`value of ${MAX_METADATA_VALUE_BYTES} bytes: accepted; one more: rejected at /metadata/<key>`, () => {
    expect(withMetadata({ k: 'v'.repeat(MAX_METADATA_VALUE_BYTES) })).toEqual([]);
    expect(withMetadata({ k: 'v'.repeat(MAX_METADATA_VALUE_BYTES + 1) })[0]?.path).toBe('/metadata/k');
  });

  it('empty value: accepted; non-string value: rejected', () => {
    expect(withMetadata({ k: '' })).toEqual([]);
    expect(withMetadata({ k: 1 })[0]?.path).toBe('/metadata/k');
  });
});

describe('StepAppend', () => {
  it('one step: accepted, appendedSteps gives a list of it', () => {
    const body = StepAppend.parse(step);
    expect(appendedSteps(body)).toEqual([StepCreate.parse(step)]);
  });

  it('{ steps }: accepted, appendedSteps gives the steps in order', () => {
    const body = StepAppend.parse({ steps: [step, { ...step, action: 'pwd' }] });
    expect(appendedSteps(body).map((s) => s.action)).toEqual(['ls -la', 'pwd']);
  });

  it(`${MAX_STEPS_PER_EPISODE} steps: accepted; ${MAX_STEPS_PER_EPISODE + 1}: rejected naming /steps`, () => {
    expect(issues(StepAppend, { steps: Array(MAX_STEPS_PER_EPISODE).fill(step) })).toEqual([]);
    expect(issues(StepAppend, { steps: Array(MAX_STEPS_PER_EPISODE + 1).fill(step) })[0]?.message).toBe(
      `a {"steps": [...]} batch is invalid: /steps: must have at most ${MAX_STEPS_PER_EPISODE} steps`,
    );
  });

  it('empty steps: rejected at /steps', () => {
    expect(issues(StepAppend, { steps: [] })).toEqual([
      { path: '/steps', message: 'must have at least one step' },
    ]);
  });

  it('value error in one step: reported at its own path', () => {
    expect(issues(StepAppend, { steps: [step, { ...step, action: '' }] })).toEqual([
      { path: '/steps/1/action', message: 'must not be empty' },
    ]);
    expect(issues(StepAppend, { ...step, tool: '' })).toEqual([
      { path: '/tool', message: 'must not be empty' },
    ]);
  });

  it('single step missing its action: message names /action', () => {
    expect(issues(StepAppend, { tool: 'shell' })).toEqual([
      {
        path: '/',
        message: 'a single step is invalid: /action: Invalid input: expected string, received undefined',
      },
    ]);
  });

  it('batch with a step missing its action: message names /steps/0/action', () => {
    expect(issues(StepAppend, { steps: [{ tool: 'shell' }] })[0]?.message).toBe(
      'a {"steps": [...]} batch is invalid: /steps/0/action: Invalid input: expected string, received undefined',
    );
  });

  it('step fields beside steps: rejected, the forms do not mix', () => {
    expect(issues(StepAppend, { steps: [step], tool: 'shell' })).toEqual([
      { path: '/', message: 'Unrecognized key: "tool"' },
    ]);
  });

  it('not an object: rejected with both forms named', () => {
    expect(issues(StepAppend, [step])).toEqual([
      { path: '/', message: 'must be one step object, or {"steps": [...]}' },
    ]);
  });

  it('duplicate explicit step numbers: rejected at the second one', () => {
    const steps = [
      { ...step, step_number: 2 },
      { ...step, step_number: 3 },
      { ...step, step_number: 2 },
    ];
    expect(issues(StepAppend, { steps })).toEqual([
      { path: '/steps/2/step_number', message: 'step_number 2 is also used by the step at index 0' },
    ]);
  });
});

describe('StepRecord', () => {
  const record = {
    episode_id: '0190f5c2-7d1e-7a3b-8c4d-5e6f7a8b9c0d',
    step_number: 1,
    timestamp: '2026-11-25T17:37:08.123Z',
    tool: 'shell',
    action: 'ls',
    parameters: { a: [1] },
    result: { type: 'timeout' },
    latency_ms: null,
    tokens_used: 12,
    metadata: {},
    location: null,
  };

  it('full record: encodes for the response unchanged (no transforms)', () => {
    expect(z.encode(StepRecord, record as StepRecord)).toEqual(record);
  });

  it('non-canonical timestamp: rejected, responses are always UTC with milliseconds', () => {
    expect(StepRecord.safeParse({ ...record, timestamp: '2026-11-25T17:37:08Z' }).success).toBe(false);
  });
});

describe('StepListQuery', () => {
  it('no parameters: limit defaults to 50', () => {
    expect(StepListQuery.parse({})).toEqual({ limit: 50 });
  });

  it('limit as a query string: 1 and 1000 accepted, 0, 1001, empty and text rejected at /limit', () => {
    expect(StepListQuery.parse({ limit: '1' }).limit).toBe(1);
    expect(StepListQuery.parse({ limit: '1000' }).limit).toBe(1000);
    for (const limit of ['0', '1001', '', 'ten', '2.5']) {
      expect(issues(StepListQuery, { limit })[0]?.path).toBe('/limit');
    }
  });

  it('unknown parameter: rejected naming it', () => {
    expect(issues(StepListQuery, { page: '2' })).toEqual([
      { path: '/', message: 'Unrecognized key: "page"' },
    ]);
  });
});

describe('GlobalStepListQuery', () => {
  it('all filters: accepted', () => {
    const query = {
      tool: 'shell',
      result: 'error',
      since: '2026-01-01T00:00:00Z',
      until: '2026-02-01T00:00:00+01:00',
      episode_id: '0190f5c2-7d1e-7a3b-8c4d-5e6f7a8b9c0d',
      agent_id: 'agent-7',
      limit: '20',
      cursor: 'abc',
    };
    expect(GlobalStepListQuery.parse(query)).toEqual({ ...query, limit: 20 });
  });

  it('result filter outside success|error|timeout: rejected at /result', () => {
    expect(issues(GlobalStepListQuery, { result: 'none' })[0]?.path).toBe('/result');
  });

  it('since that is not a timestamp: rejected at /since', () => {
    expect(issues(GlobalStepListQuery, { since: 'yesterday' })[0]?.path).toBe('/since');
  });

  it('upper-case episode id: rejected at /episode_id', () => {
    expect(issues(GlobalStepListQuery, { episode_id: '0190F5C2-7D1E-7A3B-8C4D-5E6F7A8B9C0D' })[0]?.path).toBe(
      '/episode_id',
    );
  });
});

describe('validStepCreate arbitrary', () => {
  it('every generated step: passes StepCreate', () => {
    fc.assert(
      fc.property(validStepCreate(), (body) => {
        expect(issues(StepCreate, body)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
