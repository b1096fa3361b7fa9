import { existsSync, readFileSync } from 'node:fs';
import type { ProbeLine } from './probe.js';

// Aggregates the server probe's per-second lines (bench/probe.ts) over each scenario's measured phase.

export interface Phase {
  scenario: string;
  startedAt: number;
  finishedAt: number;
  requests: number;
}

export function readProbe(file: string): ProbeLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProbeLine);
}

const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

export const PROBE_HEADER = [
  'scenario',
  'commits/s',
  'requests/commit',
  'COMMIT ms avg / max',
  'statements/request',
  'main thread in SQL %',
  'other threads in SQL %',
  'main loop delay p99 / max ms',
];

/**
 * One row per phase, from the lines whose one-second window lies wholly inside the phase. "In SQL" is
 * the time inside the driver (statements and transaction control, fsync included) as a share of wall time:
 * on the main thread that time is lost to HTTP; on a writer thread it overlaps with it.
 */
export function probeRows(lines: ProbeLine[], phases: Phase[]): string[][] {
  return phases.map((p) => {
    const mine = lines.filter(
      (l) => l.at - l.seconds * 1000 >= p.startedAt - 50 && l.at <= p.finishedAt + 50,
    );
    const main = mine.filter((l) => l.main);
    const others = mine.filter((l) => !l.main);
    const sum = (ls: ProbeLine[], k: keyof ProbeLine) => ls.reduce((a, l) => a + Number(l[k]), 0);
    const seconds = sum(main, 'seconds');
    const commits = sum(mine, 'commits');
    const requestRate = p.requests / ((p.finishedAt - p.startedAt) / 1000);
    const share = (ls: ProbeLine[]) => {
      const s = sum(ls, 'seconds');
      return s > 0 ? f((100 * (sum(ls, 'statementMs') + sum(ls, 'controlMs'))) / (s * 1000), 0) : '—';
    };
    const maxOf = (k: 'maxCommitMs' | 'loopDelayP99Ms' | 'loopDelayMaxMs', ls: ProbeLine[]) =>
      Math.max(0, ...ls.map((l) => l[k]));
    return [
      p.scenario,
      f(commits / seconds, 0),
      commits > 0 ? f(sum(mine, 'jobs') / commits, 1) : '—',
      commits > 0 ? `${f(sum(mine, 'commitMs') / commits, 2)} / ${f(maxOf('maxCommitMs', mine), 1)}` : '—',
      // A write request is one savepoint (job); a read request is counted from the request rate.
      commits > 0
        ? f(sum(mine, 'statements') / sum(mine, 'jobs'), 1)
        : f(sum(mine, 'statements') / seconds / requestRate, 1),
      share(main),
      others.length > 0 ? share(others) : '—',
      `${f(maxOf('loopDelayP99Ms', main), 0)} / ${f(maxOf('loopDelayMaxMs', main), 0)}`,
    ];
  });
}
