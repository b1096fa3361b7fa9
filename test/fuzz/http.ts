import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';

// Real HTTP to a listening server: requests through Node's client, and raw bytes over a socket for what no
// well-behaved client would send (so that Node's own parser on the server side meets them).

export interface Sent {
  method: string;
  /** Path and query, already encoded as they go on the wire. */
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Received {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Gives up on a request that has no answer after this long: a hang is a finding, not a wait. */
const ANSWER_TIMEOUT_MS = 30_000;

export class HttpClient {
  private readonly agent: Agent;

  constructor(
    private readonly host: string,
    private readonly port: number,
    sockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  send(req: Sent): Promise<Received> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, ...(req.body ? { 'content-length': String(req.body.length) } : {}) };
      const call = httpRequest(
        {
          host: this.host,
          port: this.port,
          method: req.method,
          path: req.target,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: flatten(res.headers),
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      call.setTimeout(ANSWER_TIMEOUT_MS, () =>
        call.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)),
      );
      call.on('error', reject);
      call.end(req.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([k, v]) =>
      v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v]],
    ),
  );
}

/** How long a raw connection may stay silent before the client half-closes it (the server may wait for more). */
const RAW_IDLE_MS = 300;

/**
 * Writes `bytes` on a fresh connection and parses every response that comes back. The connection stays open
 * until `answers` responses arrived or the server closes it: Node drops the answers to requests still in
 * flight when the client half-closes. Bytes expected to hold no complete request (`answers` 0) are
 * half-closed after a silence, as the server may be waiting for the rest.
 */
export function sendRaw(host: string, port: number, bytes: Buffer, answers: number): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    const chunks: Buffer[] = [];
    const responses = () => {
      try {
        return parseResponses(Buffer.concat(chunks));
      } catch {
        return undefined; // incomplete so far
      }
    };
    let idle: NodeJS.Timeout | undefined;
    // Only bytes that hold no complete request may leave the server waiting for more: those get the half-close.
    const quiet = () => {
      clearTimeout(idle);
      if (answers === 0) idle = setTimeout(() => socket.end(), RAW_IDLE_MS);
    };
    const done = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request: the connection stayed open ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    const finish = () => {
      clearTimeout(idle);
      clearTimeout(done);
      try {
        resolve(parseResponses(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      quiet();
      if (answers > 0 && (responses()?.length ?? 0) >= answers) socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may reset a connection it refused; what it wrote before counts.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
        clearTimeout(idle);
        clearTimeout(done);
        reject(err);
      }
    });
    socket.on('close', finish);
    socket.write(bytes, () => quiet());
  });
}

/** HTTP/1.1 responses in a byte stream (Content-Length or chunked bodies; none for 204/304). */
export function parseResponses(data: Buffer): Received[] {
  const responses: Received[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at);
    if (headEnd < 0)
      throw new Error(
        `incomplete response head: ${JSON.stringify(data.subarray(at, at + 200).toString('latin1'))}`,
      );
    const [statusLine = '', ...lines] = data.subarray(at, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    at = headEnd + 4;
    let body: Buffer = Buffer.alloc(0);
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at);
        const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
        at = lineEnd + 2;
        if (!(size > 0)) {
          at += 2;
          break;
        }
        parts.push(data.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (status !== 204 && status !== 304) {
      const length = Number(headers['content-length'] ?? data.length - at);
      body = data.subarray(at, at + length);
      at += length;
    }
    responses.push({ status, headers, body });
  }
  return responses;
}
