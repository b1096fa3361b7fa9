import { connect, type Socket } from 'node:net';

// The load generator's HTTP/1.1 client: keep-alive sockets, one request at a time on each, written and parsed
// by hand. node:http's client costs ≈ 0.35 ms of CPU per request, so at 3,000 arrivals/s the generator took
// more than a core and its own lateness swamped the latency it measured; this costs a tenth of that.
// At most `maxConnections` are open, as a fleet of agents with keep-alive pools would hold: beyond them a
// request waits for the next free connection (its latency still counts from its scheduled arrival).
// It understands exactly what Engram sends: a status line, headers and a Content-Length body (never chunked).

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

const HEAD_END = Buffer.from('\r\n\r\n');

class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { resolve(r: RawResponse): void; reject(err: Error): void } | undefined;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    const fail = (err?: Error) => {
      this.closed = true;
      this.pending?.reject(err ?? new Error('connection closed'));
      this.pending = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  send(request: string): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(request);
    });
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const headEnd = this.buffered.indexOf(HEAD_END);
    if (headEnd === -1) return;
    const lines = this.buffered.subarray(0, headEnd).toString('latin1').split('\r\n');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get('content-length'));
    if (!Number.isInteger(length)) throw new Error(`a response without Content-Length: ${lines[0]}`);
    const bodyStart = headEnd + HEAD_END.length;
    if (this.buffered.length < bodyStart + length) return;
    const body = this.buffered.subarray(bodyStart, bodyStart + length).toString('utf8');
    this.buffered = this.buffered.subarray(bodyStart + length);
    const status = Number(lines[0]?.split(' ')[1]);
    const pending = this.pending;
    this.pending = undefined;
    if (headers.get('connection') === 'close') this.socket.destroy();
    pending?.resolve({ status, headers, body });
  }
}

export class RawHttpClient {
  private readonly idle: Connection[] = [];
  /** Requests waiting for a connection while `maxConnections` are busy, oldest first. */
  private readonly waiting: ((connection: Connection | undefined) => void)[] = [];
  private open = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxConnections: number,
  ) {}

  /** Sends one request on an idle connection (or a new one); rejects on a broken connection or `timeoutMs`. */
  async request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<RawResponse> {
    let connection: Connection | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      connection?.socket.destroy(new Error('timed out'));
    }, timeoutMs);
    try {
      connection = await this.acquire();
      if (timedOut) throw new Error('timed out waiting for a connection');
      const head = [`${method} ${path} HTTP/1.1`, `host: ${this.host}:${this.port}`];
      for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
      if (body !== undefined) head.push(`content-length: ${Buffer.byteLength(body)}`);
      const response = await connection.send(`${head.join('\r\n')}\r\n\r\n${body ?? ''}`);
      return response;
    } finally {
      clearTimeout(timer);
      if (connection) this.release(connection);
    }
  }

  close(): void {
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
  }

  /** An idle connection, a new one while fewer than `maxConnections` are open, else the next one released. */
  private async acquire(): Promise<Connection> {
    for (let idle = this.idle.pop(); idle; idle = this.idle.pop()) {
      if (!idle.closed) return idle;
      this.open--; // the server closed it while idle
    }
    if (this.open < this.maxConnections) {
      this.open++;
      return this.connect().catch((err: unknown) => {
        this.open--;
        throw err;
      });
    }
    const released = await new Promise<Connection | undefined>((resolve) => this.waiting.push(resolve));
    return released ?? this.acquire();
  }

  /** Hands a connection to the oldest waiting request, or keeps it idle; a closed one frees its slot. */
  private release(connection: Connection): void {
    if (connection.closed) {
      this.open--;
      this.waiting.shift()?.(undefined);
      return;
    }
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }

  private connect(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port }, () => {
        socket.off('error', reject);
        resolve(new Connection(socket));
      });
      socket.once('error', reject);
    });
  }
}
