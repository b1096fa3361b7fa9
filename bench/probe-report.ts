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

/** One row per phase, from the lines whose one-second window lies wholly inside the phase. */
export function probeTable(lines: ProbeLine[], phases: Phase[]): string[][] {
  const header = [
    'scenario',
    'commits/s',
    'requests/commit',
    'COMMIT ms avg / max',
    'statements/request',
    'in statements %',
    'in BEGIN/SAVEPOINT/COMMIT %',
    'loop delay p99 / max ms',
  ];
  const rows = phases.map((p) => {
    const mine = lines.filter(
      (l) => l.at - l.seconds * 1000 >= p.startedAt - 50 && l.at <= p.finishedAt + 50,
    );
    const sum = (k: keyof ProbeLine) => mine.reduce((a, l) => a + l[k], 0);
    const seconds = sum('seconds');
    const commits = sum('commits');
    const ms = seconds * 1000;
    return [
      p.scenario,
      f(commits / seconds, 0),
      commits > 0 ? f(sum('jobs') / commits, 1) : '—',
      commits > 0
        ? `${f(sum('commitMs') / commits, 2)} / ${f(Math.max(0, ...mine.map((l) => l.maxCommitMs)), 1)}`
        : '—',
      f(sum('statements') / seconds / (p.requests / ((p.finishedAt - p.startedAt) / 1000)), 1),
      f((100 * sum('statementMs')) / ms, 0),
      f((100 * sum('execMs')) / ms, 0),
      `${f(Math.max(0, ...mine.map((l) => l.loopDelayP99Ms)), 0)} / ${f(Math.max(0, ...mine.map((l) => l.loopDelayMaxMs)), 0)}`,
    ];
  });
  return [header, ...rows];
}
