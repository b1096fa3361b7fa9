import type { FailureContext, KnownDefect } from './runner.js';

// Defects the fuzz tier finds that are filed and owned elsewhere: issue 8 items 1 (bullets 1–2) and 2, fixed
// by the `foundation` work on issue 7. They are counted and printed, not failed, so that the tier guards
// everything else meanwhile. Delete an entry when its fix lands (test/regressions/ holds its reproducer);
// the summary says which entries a run no longer hit.

type Body = Record<string, unknown>;
const bodyOf = (f: FailureContext): Body =>
  f.plan?.plainBody ? ((f.plan.body as Body | undefined) ?? {}) : {};
const ms = (t: unknown) => (typeof t === 'string' ? Date.parse(t) : Number.NaN);
const opIs = (f: FailureContext, key: string) => f.plan?.op?.key === key;
const serverError = (f: FailureContext) => f.res?.status === 500;

/** An episode as a create sends it would end before it starts (start defaults to now). */
const endsBeforeStart = (e: Body, now: number) =>
  e.end_time !== undefined && ms(e.end_time) < (e.start_time === undefined ? now : ms(e.start_time));

/**
 * 8.2: step_number may be anything up to 2^53-1, so auto-numbering past it goes beyond what a double holds:
 * duplicate numbers and a step cursor that never ends on the embedded file, and on sqld a client that
 * refuses the row (500) for every list that contains it, whoever asks. So it is recognised by what was
 * stored before: a failure about steps once any step number within 1,000 of 2^53 was acknowledged.
 */
function stepNumbersUnbounded(): KnownDefect {
  let largest = 0;
  const big = (n: unknown) => typeof n === 'number' && n > 1_000_000;
  return {
    id: '8.2 step numbers unbounded',
    description:
      'step_number up to 2^53-1: auto-numbering past it duplicates numbers, loops the cursor, or fails (500)',
    observe(sent, res) {
      if (res.status < 200 || res.status >= 300) return;
      for (const text of [sent.body?.toString('utf8') ?? '', res.body.toString('utf8')]) {
        for (const m of text.matchAll(/"step_number":(\d+)/g)) largest = Math.max(largest, Number(m[1]));
      }
    },
    matches: (f) => {
      const aboutSteps =
        /steps/.test(f.plan?.op?.path ?? '') || f.plan?.query.some(([, v]) => v === 'steps') === true;
      if (largest > 2 ** 53 - 1_000 && aboutSteps) return true;
      const children = [...(f.item?.children.values() ?? [])];
      return (
        children.some((c) => big((c.expected as Body).step_number)) ||
        /"step_number":\d{7,}/.test(f.res?.body.toString('utf8') ?? '') ||
        ((bodyOf(f).steps as Body[] | undefined) ?? [bodyOf(f)]).some((s) => big(s.step_number))
      );
    },
  };
}

/** Fresh for each run: some keep state about what the run stored. */
export const knownDefects = (): KnownDefect[] => [
  {
    id: '8.1a located steps without step_number',
    description:
      'an append of 2+ steps with a location and no step_number: UNIQUE constraint on spatiotemporal_entries (500)',
    matches: (f) => {
      if (!serverError(f) || !opIs(f, 'POST /v1/episodes/{id}/steps')) return false;
      const steps = ((bodyOf(f).steps as Body[] | undefined) ?? [bodyOf(f)]).filter(
        (s) => s.location !== undefined,
      );
      return steps.length >= 2 && steps.every((s) => s.step_number === undefined);
    },
  },
  {
    id: '8.1b located episode ending before it starts',
    description:
      'end_time before start_time with a location: rtree constraint (500) on create, batch, complete, patch',
    matches: (f) => {
      if (!serverError(f)) return false;
      const body = bodyOf(f);
      const now = Date.now();
      if (opIs(f, 'POST /v1/episodes')) return body.location !== undefined && endsBeforeStart(body, now);
      if (opIs(f, 'POST /v1/episodes/batch')) {
        return ((body.episodes as Body[] | undefined) ?? []).some(
          (e) => e.location !== undefined && endsBeforeStart(e, now),
        );
      }
      const stored = f.item?.expected;
      if (!stored) return false;
      if (opIs(f, 'POST /v1/episodes/{id}/complete')) {
        return (
          stored.location !== null &&
          (body.end_time === undefined ? now : ms(body.end_time)) < ms(stored.start_time)
        );
      }
      if (opIs(f, 'PATCH /v1/episodes/{id}')) {
        const location = body.location !== undefined ? body.location : stored.location;
        const end = body.end_time !== undefined ? body.end_time : stored.end_time;
        return location !== null && end !== null && ms(end) < ms(stored.start_time);
      }
      return false;
    },
  },
  {
    id: '8.1b episode stored ending before it starts',
    description:
      'without a location, an end_time before start_time is stored (should be 400, or 409 on complete)',
    matches: (f) => f.reasons.length > 0 && f.reasons.every((r) => /^end_time .* before start_time/.test(r)),
  },
  stepNumbersUnbounded(),
  {
    id: '8.2 metadata merge past 100 keys',
    description: 'a PATCH merging metadata can store more than 100 keys',
    matches: (f) => f.reasons.some((r) => /metadata must NOT have more than 100 properties/.test(r)),
  },
];
