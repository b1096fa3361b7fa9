import { argsOf, type Row, type SqlValue, type Statement } from './types.js';

/**
 * One-statement reads from a sqld read replica over Hrana HTTP (`/v2/pipeline`, JSON). Not @libsql/client:
 * a read that must see a given write sends sqld the write's `replication_index`, and sqld then answers only
 * once the replica has applied that frame. The client has no way to send it.
 * Values are encoded and decoded as @libsql/client does with `intMode: 'number'`, so rows are the same
 * whichever server answered.
 */
export class HranaReader {
  private readonly pipelineUrl: string;
  private readonly headers: Record<string, string>;

  constructor(options: { url: string; authToken?: string | undefined }) {
    // libsql://host is https://host; libsql://host:port?tls=0 is plain http (as @libsql/client reads them).
    const url = new URL(options.url);
    const plain = url.searchParams.get('tls') === '0' || url.protocol === 'http:' || url.protocol === 'ws:';
    // (The protocol setter cannot turn libsql: into https:, so the URL is rebuilt.)
    const base = `${plain ? 'http' : 'https'}://${url.host}${url.pathname.replace(/\/?$/, '/')}`;
    this.pipelineUrl = new URL('v2/pipeline', base).href;
    this.headers = {
      'content-type': 'application/json',
      ...(options.authToken ? { authorization: `Bearer ${options.authToken}` } : {}),
    };
  }

  /**
   * Runs one read-only statement; with `minIndex`, sqld answers once the replica has reached that replication
   * index (it waits without limit: `signal` bounds the wait), and an answer from before it is rejected
   * (REPLICA_BEHIND). Errors look like @libsql/client's: a `code` such as SQLITE_BUSY or SERVER_ERROR, or
   * fetch's own TypeError / TimeoutError.
   */
  async query(stmt: Statement, options: { minIndex?: number | null; signal: AbortSignal }): Promise<Row[]> {
    const execute: Record<string, unknown> = {
      sql: stmt.sql,
      args: argsOf(stmt).map(encodeValue),
      want_rows: true,
    };
    if (options.minIndex != null) execute.replication_index = options.minIndex;
    const response = await fetch(this.pipelineUrl, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify({ requests: [{ type: 'execute', stmt: execute }, { type: 'close' }] }),
      signal: options.signal,
    });
    const text = await response.text();
    if (!response.ok) {
      throw Object.assign(
        new Error(`SERVER_ERROR: Server returned HTTP status ${response.status}: ${text.slice(0, 200)}`),
        {
          code: response.status >= 500 ? 'SERVER_ERROR' : 'HRANA_HTTP_ERROR',
        },
      );
    }
    const result = (JSON.parse(text) as PipelineResponse).results[0];
    if (result?.type === 'error') {
      throw Object.assign(new Error(`${result.error.code}: ${result.error.message}`), {
        code: result.error.code,
      });
    }
    if (result?.type !== 'ok' || result.response.type !== 'execute') {
      throw Object.assign(new Error('HRANA_PROTO_ERROR: unexpected pipeline response'), {
        code: 'HRANA_PROTO_ERROR',
      });
    }
    const { cols, rows, replication_index: reached } = result.response.result;
    // sqld reports the index the replica read at. A replica being stopped answers without waiting for
    // `minIndex` (sqld 0.24.32): an answer from before the write must not pass for one after it.
    if (options.minIndex != null && (reached == null || Number(reached) < options.minIndex)) {
      throw Object.assign(
        new Error(
          `REPLICA_BEHIND: the replica answered at replication index ${reached}, not ${options.minIndex}`,
        ),
        { code: 'REPLICA_BEHIND' },
      );
    }
    return rows.map((values) => {
      const row: Row = {};
      cols.forEach((col, i) => {
        row[col.name ?? String(i)] = decodeValue(values[i] as ProtoValue);
      });
      return row;
    });
  }
}

type ProtoValue =
  | { type: 'null' }
  | { type: 'integer'; value: string }
  | { type: 'float'; value: number }
  | { type: 'text'; value: string }
  | { type: 'blob'; base64: string };

interface PipelineResponse {
  results: (
    | {
        type: 'ok';
        response: {
          type: string;
          result: {
            cols: { name: string | null }[];
            rows: ProtoValue[][];
            replication_index?: string | null;
          };
        };
      }
    | { type: 'error'; error: { message: string; code: string } }
  )[];
}

// As @libsql/hrana-client encodes them: a JS number is a float (SQLite compares 5.0 = 5), a bigint an integer.
function encodeValue(value: unknown): ProtoValue {
  const v = value as SqlValue;
  if (v === null) return { type: 'null' };
  if (typeof v === 'string') return { type: 'text', value: v };
  if (typeof v === 'bigint') return { type: 'integer', value: String(v) };
  if (typeof v === 'number') {
    if (!Number.isFinite(v))
      throw new RangeError('Only finite numbers (not Infinity or NaN) can be passed as arguments');
    return { type: 'float', value: v };
  }
  if (v instanceof Uint8Array) return { type: 'blob', base64: Buffer.from(v).toString('base64') };
  throw new TypeError(`Unsupported type of value: ${typeof v}`);
}

function decodeValue(value: ProtoValue): SqlValue {
  switch (value.type) {
    case 'null':
      return null;
    case 'integer': {
      const n = Number(value.value);
      if (!Number.isSafeInteger(n)) {
        throw new RangeError(
          'Received integer which is too large to be safely represented as a JavaScript number',
        );
      }
      return n;
    }
    case 'float':
    case 'text':
      return value.value;
    case 'blob':
      return new Uint8Array(Buffer.from(value.base64, 'base64'));
  }
}
