import { appendFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import workerThreads, { isMainThread, threadId, type WorkerOptions } from 'node:worker_threads';

// Preloaded into the server by `npm run bench -- --probe` (node --import tsx --import bench/probe.ts …),
// never part of the service. It wraps the `libsql` driver to time statements and transaction control,
// in the main thread and in every worker thread the server starts (a writer thread), samples the
// event-loop delay, and once a second appends a JSON line to $BENCH_PROBE_FILE.

interface NativeStatement {
  run(...args: unknown[]): unknown;
}
interface NativeDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): NativeStatement;
  close(): void;
}
type DatabaseClass = { new (path: string): NativeDatabase; prototype: NativeDatabase };

export interface ProbeLine {
  /** Wall clock (ms since the epoch) at the end of the second. */
  at: number;
  seconds: number;
  thread: number;
  main: boolean;
  commits: number;
  /** Savepoints opened: one per write request in a group commit. */
  jobs: number;
  commitMs: number;
  maxCommitMs: number;
  /** Prepared statements other than transaction control (run / all / get) and the time in them. */
  statements: number;
  statementMs: number;
  /** BEGIN, SAVEPOINT, RELEASE, COMMIT, ROLLBACK (prepared or exec'd; COMMIT's fsync included). */
  controlMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

const CONTROL = /^\s*(BEGIN|SAVEPOINT|RELEASE|COMMIT|END|ROLLBACK)\b/i;
const SQL = Symbol('sql');

/**
 * Worker threads inherit `--import tsx --import bench/probe.ts`, but tsx does not register itself in a
 * worker, so the preload would fail. A worker started from a file is started instead from a bootstrap
 * that registers tsx, loads this probe, then imports the original file (as the service does under tsx).
 */
function probeWorkers(): void {
  const probeUrl = import.meta.url;
  const ours = (arg: string | undefined) =>
    arg === 'tsx' || arg === probeUrl || arg?.endsWith('/bench/probe.ts');
  const strip = (argv: readonly string[]) =>
    argv.filter(
      (arg, i) => !(arg === '--import' && ours(argv[i + 1])) && !ours(arg) && !ours(arg.split('=')[1]),
    );
  const Original = workerThreads.Worker;
  class ProbedWorker extends Original {
    constructor(filename: string | URL, options: WorkerOptions = {}) {
      const execArgv = strip(options.execArgv ?? process.execArgv);
      if (options.eval) {
        super(filename, { ...options, execArgv });
        return;
      }
      const target = filename instanceof URL ? filename.href : pathToFileURL(filename).href;
      const bootstrap =
        `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(probeUrl)}); })` +
        `.then(() => import(${JSON.stringify(target)}))`;
      super(bootstrap, { ...options, eval: true, execArgv });
    }
  }
  workerThreads.Worker = ProbedWorker;
  syncBuiltinESMExports();
}

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  if (isMainThread) probeWorkers();
  // The server's own copy of the driver: same resolution, same module instance.
  const Database = createRequire(`${process.cwd()}/package.json`)('libsql') as DatabaseClass;
  const counters = {
    commits: 0,
    jobs: 0,
    commitMs: 0,
    maxCommitMs: 0,
    statements: 0,
    statementMs: 0,
    controlMs: 0,
  };
  const record = (sql: string, ms: number) => {
    if (!CONTROL.test(sql)) {
      counters.statements++;
      counters.statementMs += ms;
      return;
    }
    counters.controlMs += ms;
    if (/^\s*(COMMIT|END)\b/i.test(sql)) {
      counters.commits++;
      counters.commitMs += ms;
      counters.maxCommitMs = Math.max(counters.maxCommitMs, ms);
    } else if (/^\s*SAVEPOINT\b/i.test(sql)) counters.jobs++;
  };

  const exec = Database.prototype.exec;
  Database.prototype.exec = function (this: NativeDatabase, sql: string) {
    const started = performance.now();
    try {
      return exec.call(this, sql);
    } finally {
      if (CONTROL.test(sql)) record(sql, performance.now() - started);
    }
  };
  // Remember each prepared statement's text, to tell a COMMIT from an INSERT.
  const prepare = Database.prototype.prepare;
  Database.prototype.prepare = function (this: NativeDatabase, sql: string) {
    const statement = prepare.call(this, sql) as NativeStatement & { [SQL]?: string };
    statement[SQL] = sql;
    return statement;
  };

  const scratch = new Database(':memory:');
  const statementProto = Object.getPrototypeOf(scratch.prepare('SELECT 1')) as Record<string, unknown>;
  scratch.close();
  // Not iterate(): all() calls it, and alone it only starts the statement.
  for (const method of ['run', 'all', 'get']) {
    const original = statementProto[method] as (...args: unknown[]) => unknown;
    statementProto[method] = function (this: { [SQL]?: string }, ...args: unknown[]) {
      const started = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        record(this[SQL] ?? '', performance.now() - started);
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
      thread: threadId,
      main: isMainThread,
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
