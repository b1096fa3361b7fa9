import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type {
  SerializedError,
  WorkerCall,
  WorkerOptions,
  WorkerReady,
  WorkerResponse,
} from './embedded-worker.js';
import { SqliteConnection } from './sqlite-connection.js';
import type { Row, SqlDriver, Statement, StatementResult } from './types.js';

export interface EmbeddedOptions {
  path: string;
  busyTimeoutMs: number;
  /** Threads that run long reads (`scan`); point reads stay on the calling thread. */
  readerThreads: number;
}

/** `file:./data/engram.db` → `./data/engram.db`; `file:///abs.db` → `/abs.db`. */
export function filePathOf(url: string): string {
  const rest = url.replace(/^file:/, '');
  return rest.startsWith('//') ? rest.replace(/^\/\/[^/]*/, '') : rest;
}

const revive = (e: SerializedError) =>
  Object.assign(
    new Error(e.message),
    e.code ? { code: e.code } : {},
    e.statementIndex === undefined ? {} : { statementIndex: e.statementIndex },
  );

type InFlight = { resolve(result: unknown): void; reject(err: Error): void };

/** One thread of the embedded file (see embedded-worker.ts), called with promises. */
class DatabaseThread {
  private readonly worker: Worker;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 0;
  private exited: Error | undefined;
  readonly started: Promise<void>;

  constructor(options: WorkerOptions) {
    const worker = startWorker(options);
    this.worker = worker;
    this.started = new Promise((resolve, reject) => {
      worker.once('message', (message: WorkerReady) =>
        message.ready ? resolve() : reject(revive(message.error)),
      );
      worker.once('exit', () => reject(new Error(`embedded ${options.role} exited before it was ready`)));
    });
    this.started.catch(() => undefined); // reported to whoever awaits ready()
    worker.on('message', (response: WorkerResponse | WorkerReady) => {
      if (!('id' in response)) return;
      const call = this.inFlight.get(response.id);
      if (!call) return;
      this.inFlight.delete(response.id);
      if (this.inFlight.size === 0) worker.unref();
      if (response.ok) call.resolve(response.result);
      else call.reject(revive(response.error));
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`embedded ${options.role} exited with code ${code}`)));
  }

  /** Calls waiting for this thread: the pool sends a new read to the least busy one. */
  get load(): number {
    return this.inFlight.size;
  }

  call(request: WorkerCall): Promise<unknown> {
    if (this.exited)
      return Promise.reject(Object.assign(new Error('database is closed'), { code: 'CLIENT_CLOSED' }));
    const id = this.nextId++;
    this.worker.ref(); // pending calls keep the process alive until they are answered
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    await this.call({ op: 'close' });
    const exit = once(this.worker, 'exit');
    await this.worker.terminate();
    await exit.catch(() => undefined);
  }

  private fail(err: Error): void {
    this.exited ??= err;
    for (const call of this.inFlight.values()) call.reject(err);
    this.inFlight.clear();
  }
}

/** A thread of the embedded file. Under tsx (tests, `npm run dev`) it is TypeScript too, loaded through tsx's hooks. */
function startWorker(options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./embedded-worker.js', import.meta.url), { workerData: options });
  const source = JSON.stringify(new URL('./embedded-worker.ts', import.meta.url).href);
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(bootstrap, { eval: true, workerData: options });
}

/**
 * The embedded file. Point reads run synchronously on this thread (≈15 µs each through the statement
 * cache); long reads run on reader threads; writes go to one writer thread, so that the statements and the
 * commit's fsync of a group overlap with the event loop's HTTP work instead of stalling it. One writer also
 * means no SQLITE_BUSY between our own connections; WAL lets every reader see each commit as soon as it is
 * acknowledged.
 */
export class EmbeddedDriver implements SqlDriver {
  readonly mode = 'embedded' as const;
  readonly synchronousReads = true;
  private readonly main: SqliteConnection;
  /** Null for `:memory:`, which another thread could not share: everything then runs here. */
  private readonly writer: DatabaseThread | null;
  private readonly readers: DatabaseThread[];
  private readonly started: Promise<void>;

  constructor(options: EmbeddedOptions) {
    this.main = new SqliteConnection(options.path, options.busyTimeoutMs); // creates the file, sets WAL
    if (options.path === ':memory:') {
      this.writer = null;
      this.readers = [];
      this.started = Promise.resolve();
      return;
    }
    const thread = (role: WorkerOptions['role']) =>
      new DatabaseThread({ path: options.path, busyTimeoutMs: options.busyTimeoutMs, role });
    this.writer = thread('writer');
    this.readers = Array.from({ length: options.readerThreads }, () => thread('reader'));
    this.started = this.writer.started;
  }

  /** Resolves once the writer has opened its connection: its start-up is not any write's latency. */
  ready(): Promise<void> {
    return this.started;
  }

  async query(stmt: Statement): Promise<Row[]> {
    return this.main.query(stmt);
  }

  async scan(stmt: Statement): Promise<Row[]> {
    const reader = this.readers.reduce<DatabaseThread | undefined>(
      (best, t) => (best === undefined || t.load < best.load ? t : best),
      undefined,
    );
    if (!reader) return this.main.query(stmt);
    await reader.started; // a reader still starting (the first moments of the process) is waited for
    return (await reader.call({ op: 'query', stmt })) as Row[];
  }

  async transaction(stmts: readonly Statement[]): Promise<StatementResult[]> {
    if (!this.writer) return this.main.transaction(stmts);
    return (await this.writer.call({ op: 'transaction', stmts: stmts as Statement[] })) as StatementResult[];
  }

  async group(jobs: readonly (readonly Statement[])[]): Promise<(StatementResult[] | Error)[]> {
    if (!this.writer) return this.main.group(jobs);
    const outcomes = (await this.writer.call({ op: 'group', jobs: jobs as Statement[][] })) as (
      | StatementResult[]
      | { error: SerializedError }
    )[];
    return outcomes.map((o) => ('error' in o ? revive(o.error) : o));
  }

  async close(): Promise<void> {
    await Promise.all([this.writer, ...this.readers].map((t) => t?.close()));
    this.main.close();
  }
}
