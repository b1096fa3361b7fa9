import { parentPort, workerData } from 'node:worker_threads';
import { SqliteConnection } from './sqlite-connection.js';
import type { Statement } from './types.js';

// The embedded file's writer, on its own thread: statements and the commit's fsync run here while the
// event loop goes on parsing and validating the next requests.

export type WriterCall =
  | { op: 'transaction'; stmts: Statement[] }
  | { op: 'group'; jobs: Statement[][] }
  | { op: 'close' };
export type WriterRequest = WriterCall & { id: number };

export interface SerializedError {
  message: string;
  code?: string;
}

export type WriterResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: SerializedError };
/** The first message: the writer has opened its connection (or could not). */
export type WriterReady = { ready: true } | { ready: false; error: SerializedError };

const serialize = (err: unknown): SerializedError => {
  const e = err as { message?: unknown; code?: unknown };
  return { message: String(e?.message ?? err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
};

const { path, busyTimeoutMs } = workerData as { path: string; busyTimeoutMs: number };
const port = parentPort;
if (!port) throw new Error('embedded-writer runs as a worker thread');
let connection: SqliteConnection;
try {
  connection = new SqliteConnection(path, busyTimeoutMs);
  port.postMessage({ ready: true } satisfies WriterReady);
} catch (err) {
  port.postMessage({ ready: false, error: serialize(err) } satisfies WriterReady);
  throw err;
}

port.on('message', (request: WriterRequest) => {
  let response: WriterResponse;
  try {
    switch (request.op) {
      case 'transaction':
        response = { id: request.id, ok: true, result: connection.transaction(request.stmts) };
        break;
      case 'group': {
        const outcomes = connection.group(request.jobs);
        const result = outcomes.map((o) => (o instanceof Error ? { error: serialize(o) } : o));
        response = { id: request.id, ok: true, result };
        break;
      }
      case 'close':
        connection.close();
        response = { id: request.id, ok: true, result: null };
        break;
    }
  } catch (err) {
    response = { id: request.id, ok: false, error: serialize(err) };
  }
  port.postMessage(response);
});
