import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { SerializedError, WriterCall, WriterReady, WriterResponse } from './embedded-writer.js';
import { SqliteConnection } from './sqlite-connection.js';
import type { Row, SqlDriver, Statement, StatementResult } from './types.js';

export interface EmbeddedOptions {
  path: string;
  busyTimeoutMs: number;
}

/** `file:./data/engram.db` → `./data/engram.db`; `file:///abs.db` → `/abs.db`. */
export function filePathOf(url: string): string {
  const rest = url.replace(/^file:/, '');
  return rest.startsWith('//') ? rest.replace(/^\/\/[^/]*/, '') : rest;
}

const revive = (e: SerializedError) => Object.assign(new Error(e.message), e.code ? { code: e.code } : {});

/** The writer thread. Under tsx (tests, `npm run dev`) it is TypeScript too, loaded through tsx's hooks. */
function startWriter(options: EmbeddedOptions): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./embedded-writer.js', import.meta.url), { workerData: options });
  const source = JSON.stringify(new URL('./embedded-writer.ts', import.meta.url).href);
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(bootstrap, { eval: true, workerData: options });
}

type InFlight = { resolve(result: unknown): void; reject(err: Error): void };

/**
 * The embedded file. Reads run synchronously on this thread (≈15 µs each through the statement cache);
 * writes go to one writer thread, so that the statements and the commit's fsync of a group overlap with
 * the event loop's HTTP work instead of stalling it. One writer also means no SQLITE_BUSY between our own
 * connections; WAL lets the reader see each commit as soon as it is acknowledged.
 */
export class EmbeddedDriver implements SqlDriver {
  readonly mode = 'embedded' as const;
  readonly synchronousReads = true;
  private readonly reader: SqliteConnection;
  /** Null for `:memory:`, which a second thread could not share: writes then run here too. */
  private readonly writer: Worker | null;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 0;
  private exited: Error | undefined;
  private readonly started: Promise<void>;

  constructor(options: EmbeddedOptions) {
    this.reader = new SqliteConnection(options.path, options.busyTimeoutMs); // creates the file, sets WAL
    if (options.path === ':memory:') {
      this.writer = null;
      this.started = Promise.resolve();
      return;
    }
    const writer = startWriter(options);
    this.writer = writer;
    this.started = new Promise((resolve, reject) => {
      writer.once('message', (message: WriterReady) =>
        message.ready ? resolve() : reject(revive(message.error)),
      );
      writer.once('exit', () => reject(new Error('embedded writer exited before it was ready')));
    });
    this.started.catch(() => undefined); // reported to whoever awaits ready()
    writer.on('message', (response: WriterResponse | WriterReady) => {
      if (!('id' in response)) return;
      const call = this.inFlight.get(response.id);
      if (!call) return;
      this.inFlight.delete(response.id);
      if (this.inFlight.size === 0) writer.unref();
      if (response.ok) call.resolve(response.result);
      else call.reject(revive(response.error));
    });
    writer.on('error', (err) => this.fail(err));
    writer.on('exit', (code) => this.fail(new Error(`embedded writer exited with code ${code}`)));
  }

  /** Resolves once the writer thread has opened its connection: its start-up is not any write's latency. */
  ready(): Promise<void> {
    return this.started;
  }

  async query(stmt: Statement): Promise<Row[]> {
    return this.reader.query(stmt);
  }

  async transaction(stmts: readonly Statement[]): Promise<StatementResult[]> {
    if (!this.writer) return this.reader.transaction(stmts);
    return (await this.call({ op: 'transaction', stmts: stmts as Statement[] })) as StatementResult[];
  }

  async group(jobs: readonly (readonly Statement[])[]): Promise<(StatementResult[] | Error)[]> {
    if (!this.writer) return this.reader.group(jobs);
    const outcomes = (await this.call({ op: 'group', jobs: jobs as Statement[][] })) as (
      | StatementResult[]
      | { error: SerializedError }
    )[];
    return outcomes.map((o) => ('error' in o ? revive(o.error) : o));
  }

  async close(): Promise<void> {
    if (this.writer && !this.exited) {
      await this.call({ op: 'close' });
      const exit = once(this.writer, 'exit');
      await this.writer.terminate();
      await exit.catch(() => undefined);
    }
    this.reader.close();
  }

  private call(request: WriterCall): Promise<unknown> {
    const writer = this.writer as Worker;
    if (this.exited)
      return Promise.reject(Object.assign(new Error('database is closed'), { code: 'CLIENT_CLOSED' }));
    const id = this.nextId++;
    writer.ref(); // pending writes keep the process alive until they are answered
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      writer.postMessage({ ...request, id });
    });
  }

  private fail(err: Error): void {
    this.exited ??= err;
    for (const call of this.inFlight.values()) call.reject(err);
    this.inFlight.clear();
  }
}
