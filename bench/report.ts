import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Measurement } from './load.js';

// The machine description and the one results table, printed to the console and as markdown.

export interface Machine {
  cores: number;
  model: string;
  ramGiB: number;
  node: string;
  kernel: string;
  loadAvg: [number, number, number];
  versions: Record<string, string>;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

function installedVersion(root: string, name: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return '?';
  }
}

export function describeMachine(root: string): Machine {
  return {
    cores: cpus().length,
    model: cpuModel(),
    ramGiB: totalmem() / 1024 ** 3,
    node: process.version,
    kernel: release(),
    loadAvg: loadavg() as [number, number, number],
    versions: Object.fromEntries(
      ['fastify', 'libsql', '@libsql/client', 'autocannon', 'zod'].map((n) => [n, installedVersion(root, n)]),
    ),
  };
}

export function machineLine(m: Machine): string {
  const versions = Object.entries(m.versions)
    .map(([n, v]) => `${n} ${v}`)
    .join(', ');
  return (
    `${m.cores} cores (${m.model}), ${m.ramGiB.toFixed(1)} GiB RAM, Node ${m.node}, Linux ${m.kernel}; ` +
    `${versions}; load average at start ${m.loadAvg.map((l) => l.toFixed(2)).join(' / ')}`
  );
}

export interface Target {
  op: '>=' | '<=';
  value: number;
  unit: '×' | 'ms';
}

/** One comparison of a row: a ratio against a baseline (or a raw value) and, maybe, the target. */
export interface Check {
  /** e.g. "vs hello-world" or "p99". */
  label: string;
  /** The ratio (×) or value (ms); null when the baseline was not measured. */
  value: number | null;
  target?: Target;
}

export interface TableRow {
  scenario: string;
  /** How it was driven: "64 conns", "sequential", "32/txn"… */
  load: string;
  m: Measurement | null;
  checks: Check[];
}

const num = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n)
    ? '—'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number | undefined) =>
  n === undefined || Number.isNaN(n) ? '—' : n < 10 ? num(n, 2) : num(n, 1);

function verdict(c: Check): string {
  if (!c.target) return '';
  if (c.value === null) return 'n/a';
  const ok = c.target.op === '>=' ? c.value >= c.target.value : c.value <= c.target.value;
  return ok ? 'PASS' : 'MISS';
}

function checkText(c: Check): string {
  if (c.value === null) return `${c.label}: not measured`;
  return c.label === 'p99' ? `p99 ${ms(c.value)} ms` : `${num(c.value, 2)}× ${c.label}`;
}

const targetText = (t: Target | undefined) =>
  t ? `${t.op === '>=' ? '≥' : '≤'} ${t.value}${t.unit === 'ms' ? ' ms' : '×'}` : '';

export const HEADER = [
  'scenario',
  'load',
  'req/s',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'RSS MB',
  'CPU srv (main) / gen / other',
  'CPU µs/req',
  'non-2xx+err',
  'ratio vs baseline',
  'target',
  'result',
];

/**
 * CPU time per request (per episode or read for baselines), µs: the server's, or for an in-process
 * baseline this process's. Unlike req/s it hardly moves when other processes take CPU away.
 */
function cpuPerRequest(m: Measurement | null): number | null {
  if (!m || m.rate === 0) return null;
  return ((m.cpu.server ?? m.cpu.self) * 1e6) / m.rate;
}

/** Table cells, one line per check (continuation lines repeat nothing but the comparison). */
export function cells(rows: TableRow[]): string[][] {
  const out: string[][] = [];
  for (const row of rows) {
    const m = row.m;
    const server = m?.cpu.server == null ? '—' : `${num(m.cpu.server, 2)} (${num(m.cpu.serverMain, 2)})`;
    const cpu = m ? `${server} / ${num(m.cpu.self, 2)} / ${num(m.cpu.other, 2)}` : '—';
    const failures = m ? num(m.failures + m.warmupFailures) : '—';
    const first = row.checks[0];
    out.push([
      row.scenario,
      row.load,
      m ? num(m.rate) : 'not run',
      ms(m?.p50),
      ms(m?.p95),
      ms(m?.p99),
      num(m?.rssMb),
      cpu,
      num(cpuPerRequest(m)),
      failures,
      first ? checkText(first) : '',
      targetText(first?.target),
      first ? verdict(first) : '',
    ]);
    for (const c of row.checks.slice(1)) {
      out.push(['', '', '', '', '', '', '', '', '', '', checkText(c), targetText(c.target), verdict(c)]);
    }
  }
  return out;
}

/** A plain text table; columns in `numeric` are right-aligned. */
export function textTable(
  header: string[],
  body: string[][],
  numeric: ReadonlySet<number> = new Set(),
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' │ ');
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** A markdown table; columns in `numeric` are right-aligned. */
export function mdTable(
  header: string[],
  body: string[][],
  numeric: ReadonlySet<number> = new Set(),
): string {
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  const align = header.map((_, i) => (numeric.has(i) ? '---:' : '---'));
  return [line(header), line(align), ...body.map(line)].join('\n');
}

const NUMERIC = new Set([2, 3, 4, 5, 6, 8, 9]);
export const consoleTable = (rows: TableRow[]) => textTable(HEADER, cells(rows), NUMERIC);
export const markdownTable = (rows: TableRow[]) => mdTable(HEADER, cells(rows), NUMERIC);

/** Counts of every target's verdicts. */
export function tally(rows: TableRow[]): { pass: number; miss: number; na: number } {
  const all = rows.flatMap((r) => r.checks.map(verdict)).filter(Boolean);
  return {
    pass: all.filter((v) => v === 'PASS').length,
    miss: all.filter((v) => v === 'MISS').length,
    na: all.filter((v) => v === 'n/a').length,
  };
}
