import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Samples } from '../../bench/load.js';
import { rssMb, type ServerProcess, startProcess } from '../../bench/processes.js';
import { makeIdentities } from '../helpers/identities.js';
import { freePort } from '../helpers/ports.js';
import type { GeneratorSpec, Sample } from './generator.js';

// Shared by the reliability tier (issue 13): its mode, the service as a real process, the load generator in
// another process, and the figures every test prints as a table.

/** `npm run test:reliability` runs every test in full; without RELIABILITY_FULL=1 (CI) the short versions. */
export const FULL = process.env.RELIABILITY_FULL === '1';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export { Samples };

/** A row of figures: numbers are rounded for print. */
export type Row = Record<string, string | number>;

/** Prints a titled table of figures (and the machine's load beside it, since the figures depend on it). */
export function printTable(title: string, rows: Row[]): void {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number | undefined) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : (v ?? '');
  const lines = [
    `| ${cols.join(' | ')} |`,
    `|${cols.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`),
  ];
  const load = loadAverage();
  console.log(`\n### ${title} (${FULL ? 'full' : 'CI subset'}; load average ${load})\n${lines.join('\n')}\n`);
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

/** p50/p99/max of latencies in ms. */
export function latencyFigures(values: readonly number[]): { p50: number; p99: number; max: number } {
  const s = new Samples();
  for (const v of values) s.add(v);
  return { p50: s.percentile(50), p99: s.percentile(99), max: s.percentile(100) };
}

export interface Service extends ServerProcess {
  /** `Bearer <key>` of a writer of `tenant`. */
  authorization: string;
  tenant: string;
  rssMb(): number;
  /** Open file descriptors of the process. */
  fds(): number;
  close(): Promise<void>;
}

/** The real server (`src/server.ts`) in its own process, on a fresh embedded database, with an API key. */
export async function startService(env: Record<string, string> = {}): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'engram-rel-'));
  const ids = makeIdentities();
  const port = await freePort();
  const server = await startProcess({
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HTTP_PORT: String(port),
      LIBSQL_URL: `file:${join(dir, 'engram.db')}`,
      LOG_LEVEL: 'warn',
      ENGRAM_API_KEYS: ids.ENGRAM_API_KEYS,
      ...env,
    },
    port,
    readyPath: '/health/ready',
    logFile: join(dir, 'server.log'),
  });
  return Object.assign(server, {
    authorization: ids.headers('a', 'write').authorization as string,
    tenant: ids.tenants.a,
    rssMb: () => rssMb(server.pid) ?? Number.NaN,
    fds: () => readdirSync(`/proc/${server.pid}/fd`).length,
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

const run = promisify(execFile);

/** Runs the load generator in its own process; resolves with every request it made and its CPU use. */
export async function generate(spec: GeneratorSpec): Promise<{ samples: Sample[]; cores: number }> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'test/reliability/generator.ts', JSON.stringify(spec)],
    {
      cwd: ROOT,
      maxBuffer: 1 << 30,
    },
  );
  return JSON.parse(stdout) as { samples: Sample[]; cores: number };
}

/** Samples a value every `everyMs` until stopped. */
export function sampler<T>(read: () => T, everyMs: number): { values: T[]; stop(): T[] } {
  const values: T[] = [read()];
  const timer = setInterval(() => values.push(read()), everyMs);
  return {
    values,
    stop() {
      clearInterval(timer);
      values.push(read());
      return values;
    },
  };
}
