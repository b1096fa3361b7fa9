import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';

// Preloaded into the server by `npm run bench -- --probe` (node --import tsx --import bench/probe.ts …),
// never part of the service. It wraps the `libsql` driver to time statements and transactions, and
// samples event-loop delay; once a second it appends a JSON line to $BENCH_PROBE_FILE.

interface NativeDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): object;
  close(): void;
}
type DatabaseClass = { new (path: string): NativeDatabase; prototype: NativeDatabase };

export interface ProbeLine {
  /** Wall clock (ms since the epoch) at the end of the second. */
  at: number;
  seconds: number;
  commits: number;
  /** Savepoints opened: one per write request in a group commit. */
  jobs: number;
  commitMs: number;
  maxCommitMs: number;
  /** Calls of prepared statements (run / all / get) and the time spent in them. */
  statements: number;
  statementMs: number;
  /** Time in exec(): BEGIN, SAVEPOINT, RELEASE, COMMIT (fsync included). */
  execMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  // The server's own copy of the driver: same resolution, same module instance.
  const Database = createRequire(`${process.cwd()}/package.json`)('libsql') as DatabaseClass;
  const counters = {
    commits: 0,
    jobs: 0,
    commitMs: 0,
    maxCommitMs: 0,
    statements: 0,
    statementMs: 0,
    execMs: 0,
  };

  const exec = Database.prototype.exec;
  Database.prototype.exec = function (this: NativeDatabase, sql: string) {
    const started = performance.now();
    try {
      return exec.call(this, sql);
    } finally {
      const ms = performance.now() - started;
      counters.execMs += ms;
      if (sql === 'COMMIT') {
        counters.commits++;
        counters.commitMs += ms;
        counters.maxCommitMs = Math.max(counters.maxCommitMs, ms);
      } else if (sql.startsWith('SAVEPOINT')) counters.jobs++;
    }
  };

  const scratch = new Database(':memory:');
  const statementProto = Object.getPrototypeOf(scratch.prepare('SELECT 1')) as Record<string, unknown>;
  scratch.close();
  // Not iterate(): all() calls it, and alone it only starts the statement.
  for (const method of ['run', 'all', 'get']) {
    const original = statementProto[method] as (...args: unknown[]) => unknown;
    statementProto[method] = function (this: unknown, ...args: unknown[]) {
      const started = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        counters.statements++;
        counters.statementMs += performance.now() - started;
      }
    };
  }

  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const line: ProbeLine = {
      at: Date.now(),
      seconds: (now - last) / 1000,
      ...counters,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
    };
    last = now;
    appendFileSync(file, `${JSON.stringify(line)}\n`);
    for (const key of Object.keys(counters) as (keyof typeof counters)[]) counters[key] = 0;
    loop.reset();
  }, 1000).unref();
}
