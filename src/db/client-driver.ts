import { AsyncLocalStorage } from 'node:async_hooks';
import { type Client, createClient, type InStatement, type ResultSet } from '@libsql/client';
import { fetchObservingPosition, type ReplicationPosition } from './replication-position.js';
import { argsOf, type Row, type SqlDriver, type Statement, type StatementResult } from './types.js';

export interface ClientOptions {
  url: string;
  authToken?: string | undefined;
  /** Set for an embedded replica: `url` is the local file, this is the primary. */
  syncUrl?: string | undefined;
  timeoutMs: number;
  /** Remote only: kept up to date with the replication index the server reports (consistency tokens). */
  position?: ReplicationPosition | undefined;
}

function toRows(rs: ResultSet): Row[] {
  const { columns } = rs;
  return rs.rows.map((r) => {
    const row: Row = {};
    for (let i = 0; i < columns.length; i++) row[columns[i] as string] = r[i] as Row[string];
    return row;
  });
}

const toIn = (s: Statement): InStatement => ({
  sql: s.sql,
  args: argsOf(s) as InStatement extends { args?: infer A } ? A : never,
});

/** Set while an unbounded transaction (startup work) sends its requests: they go without the deadline. */
const unbounded = new AsyncLocalStorage<true>();

/**
 * A remote libSQL server (sqld, Turso) over Hrana, or an embedded replica of one, through `@libsql/client`.
 * Writes are one `batch(…, "write")` each: never an interactive transaction (RELIABILITY: sqld gives those
 * 5 s and a timed-out one has been seen partially applied).
 */
export class ClientDriver implements SqlDriver {
  readonly mode;
  private readonly client: Client;

  constructor(options: ClientOptions) {
    this.mode = options.syncUrl ? ('embedded_replica' as const) : ('remote' as const);
    // The Hrana HTTP client has no timeout of its own: a hung server would hang every request.
    const timed: typeof fetch = (input, init) =>
      unbounded.getStore()
        ? fetch(input, init)
        : fetch(input, { ...init, signal: AbortSignal.timeout(options.timeoutMs) });
    this.client = createClient({
      url: options.url,
      authToken: options.authToken,
      syncUrl: options.syncUrl,
      intMode: 'number',
      fetch: options.position ? fetchObservingPosition(timed, options.position) : timed,
    });
  }

  async query(stmt: Statement): Promise<Row[]> {
    return toRows(await this.client.execute(toIn(stmt)));
  }

  async transaction(
    stmts: readonly Statement[],
    options?: { unbounded?: boolean },
  ): Promise<StatementResult[]> {
    const batch = () => this.client.batch(stmts.map(toIn), 'write');
    const results = await (options?.unbounded ? unbounded.run(true, batch) : batch());
    return results.map((rs) => ({ rows: toRows(rs), changes: rs.rowsAffected }));
  }

  async sync(): Promise<void> {
    await this.client.sync();
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
