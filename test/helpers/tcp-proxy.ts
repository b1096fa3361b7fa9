import { connect, createServer, type Server, type Socket } from 'node:net';

// A TCP proxy on loopback between a client and a server, for faults on the real network path.
//
//   const proxy = await startTcpProxy({ host: '127.0.0.1', port: 8080 });
//   ... LIBSQL_URL: `http://127.0.0.1:${proxy.port}` ...
//   proxy.latencyMs = 50;                                    // every chunk, both ways
//   proxy.stall(); ...; proxy.resume();                       // hold all traffic, then let it flow
//   proxy.drop();                                             // reset every open connection
//   proxy.cutRate = 0.1;                                     // 10 % of answers: half of their first chunk,
//                                                             // then a reset (the request was served, its
//                                                             // answer lost mid-way); proxy.cuts counts them
//   const reset = proxy.resetAfterResponse((req) => req.includes('INSERT INTO steps'));
//   ... the next request that matches reaches the server; when the server answers, the client's
//   ... connection is reset instead (the write committed, its answer is lost); `await reset` after.
//   await proxy.close();

export interface TcpProxy {
  readonly port: number;
  /** Delay added to every chunk forwarded, in both directions. */
  latencyMs: number;
  /** Share of answers (0..1) cut mid-way: the client gets half of the first chunk, then a reset. */
  cutRate: number;
  /** Answers cut so far by `cutRate`. */
  readonly cuts: number;
  /** Holds every chunk (new connections too) until `resume()`. */
  stall(): void;
  resume(): void;
  /** Resets every open connection at once (RST to both sides). */
  drop(): void;
  /**
   * Arms a one-shot fault: the next request whose bytes match is forwarded; the server's answer is not,
   * and the client's connection is reset as soon as it arrives. Resolves once it happened.
   */
  resetAfterResponse(matches: (request: string) => boolean): Promise<void>;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  /** Bytes of the request in progress (since the last response began). */
  request: string;
  /** This connection's current request matched an armed fault. */
  doomed: (() => void) | undefined;
}

/** `random` decides which answers `cutRate` cuts (seed it to replay a run). */
export async function startTcpProxy(
  target: { host: string; port: number },
  options: { random?: () => number } = {},
): Promise<TcpProxy> {
  const random = options.random ?? Math.random;
  const pairs = new Set<Pair>();
  let held: (() => void)[] | undefined;
  let armed: { matches(request: string): boolean; done(): void } | undefined;
  let accepted = 0;
  let cuts = 0;
  const proxy = {
    latencyMs: 0,
    cutRate: 0,
    get connections() {
      return accepted;
    },
    get cuts() {
      return cuts;
    },
  };

  /** Forwards a chunk after the latency and any stall; `write` is skipped once a side is gone. */
  const forward = (to: Socket, chunk: Buffer) => {
    const send = () => {
      if (!to.destroyed) to.write(chunk);
    };
    const later = () => (proxy.latencyMs > 0 ? setTimeout(send, proxy.latencyMs) : send());
    if (held) held.push(later);
    else later();
  };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, server: upstream, request: '', doomed: undefined };
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      pair.request += chunk.toString('latin1');
      if (armed?.matches(pair.request)) {
        pair.doomed = armed.done;
        armed = undefined;
      }
      forward(upstream, chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const answerBegins = pair.request !== '';
      pair.request = '';
      if (answerBegins && proxy.cutRate > 0 && random() < proxy.cutRate) {
        cuts++;
        const half = chunk.subarray(0, Math.floor(chunk.length / 2));
        forward(client, half);
        const reset = () => {
          client.resetAndDestroy();
          upstream.destroy();
        };
        // Once the half has gone out (latency and stalls apply to it as well).
        if (held) held.push(reset);
        else setTimeout(reset, proxy.latencyMs + 5);
        return;
      }
      if (pair.doomed) {
        const done = pair.doomed;
        pair.doomed = undefined;
        client.resetAndDestroy();
        upstream.destroy();
        done();
        return;
      }
      forward(client, chunk);
    });
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return Object.assign(proxy, {
    port,
    stall() {
      held ??= [];
    },
    resume() {
      const release = held ?? [];
      held = undefined;
      for (const send of release) send();
    },
    drop() {
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.server.resetAndDestroy();
      }
      pairs.clear();
    },
    resetAfterResponse(matches: (request: string) => boolean) {
      return new Promise<void>((done) => {
        armed = { matches, done };
      });
    },
    async close() {
      proxy.latencyMs = 0;
      proxy.cutRate = 0;
      this.resume();
      this.drop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
