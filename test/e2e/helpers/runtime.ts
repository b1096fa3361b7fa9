import { request } from 'node:http';
import { run } from './process.js';

// Finds the container runtime for the e2e tier: a Docker CLI whose engine answers (Docker, or
// Podman's Docker-compatible socket), and a compose command (`docker compose` v2, else
// `docker-compose` v1). Without one the tier is skipped locally and fails under CI=true.

export interface ContainerRuntime {
  docker: string;
  compose: readonly string[];
  /** e.g. "Podman Engine 4.3.1" */
  engine: string;
  podman: boolean;
  /** Unix socket of the engine API (from DOCKER_HOST), used to run Podman healthchecks. */
  socketPath: string | null;
}

export type RuntimeProbe = { ok: true; runtime: ContainerRuntime } | { ok: false; reason: string };

const HINT =
  'on these machines: run ../shared/container-engine/setup, then eval "$(../shared/container-engine/setup --env)"';

export async function probeContainerRuntime(): Promise<RuntimeProbe> {
  const docker = process.env.ENGRAM_E2E_DOCKER ?? 'docker';
  let engine: string;
  try {
    const { stdout } = await run(docker, ['version', '--format', '{{json .Server}}'], { timeoutMs: 15_000 });
    const server = JSON.parse(stdout) as {
      Components?: { Name: string; Version: string }[];
      Version?: string;
    };
    const main = server.Components?.[0];
    engine = main ? `${main.Name} ${main.Version}` : `Docker Engine ${server.Version ?? '?'}`;
  } catch (err) {
    return {
      ok: false,
      reason: `no container engine answers "${docker} version" (${firstLine(err)}); ${HINT}`,
    };
  }
  let compose: string[] | null = null;
  for (const candidate of [[docker, 'compose'], ['docker-compose']]) {
    const [cmd, ...args] = candidate as [string, ...string[]];
    try {
      await run(cmd, [...args, 'version'], { timeoutMs: 15_000 });
      compose = candidate;
      break;
    } catch {
      // try the next form
    }
  }
  if (!compose)
    return {
      ok: false,
      reason: `${engine} answers, but neither "docker compose" nor "docker-compose" works`,
    };
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  const socketPath = host.startsWith('unix://') ? host.slice('unix://'.length) : null;
  return { ok: true, runtime: { docker, compose, engine, podman: /podman/i.test(engine), socketPath } };
}

/** The probe result, printed once per test file; throws (test failure) when CI expects a runtime. */
export function requireRuntime(probe: RuntimeProbe): ContainerRuntime {
  if (probe.ok) return probe.runtime;
  throw new Error(`e2e: ${probe.reason}`);
}

export function logRuntime(probe: RuntimeProbe): void {
  if (probe.ok) {
    const r = probe.runtime;
    console.log(`e2e: engine ${r.engine} via "${r.docker}", compose via "${r.compose.join(' ')}"`);
  } else if (process.env.CI === 'true') {
    console.error(`e2e: FAIL (CI=true): ${probe.reason}`);
  } else {
    console.warn(`e2e: SKIPPED: ${probe.reason} (under CI=true this fails)`);
  }
}

/** Run the tier when a runtime answers, and also when CI requires one (so that it fails). */
export function shouldRun(probe: RuntimeProbe): boolean {
  return probe.ok || process.env.CI === 'true';
}

/**
 * Podman runs container healthchecks from systemd timers; where there is no systemd (these
 * machines) they never run and `depends_on: condition: service_healthy` would wait forever. The
 * pump runs them through the libpod API instead, once a second, for the matching containers.
 * On Docker it does nothing.
 */
export function startHealthPump(
  runtime: ContainerRuntime,
  filter: { label?: string; name?: string },
): () => void {
  const { socketPath } = runtime;
  if (!runtime.podman || !socketPath) return () => {};
  let stopped = false;
  const filters = encodeURIComponent(
    JSON.stringify(filter.label ? { label: [filter.label] } : { name: [filter.name ?? ''] }),
  );
  const loop = async () => {
    while (!stopped) {
      try {
        const list = JSON.parse(await socketGet(socketPath, `/containers/json?filters=${filters}`)) as {
          Id: string;
        }[];
        // 409 = no healthcheck defined; ignored.
        await Promise.all(
          list.map((c) =>
            socketGet(socketPath, `/v4.0.0/libpod/containers/${c.Id}/healthcheck`).catch(() => ''),
          ),
        );
      } catch {
        // engine busy or container gone; try again next tick
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  };
  void loop();
  console.log(
    `e2e: Podman without systemd: running healthchecks from the test (${filter.label ?? filter.name})`,
  );
  return () => {
    stopped = true;
  };
}

function socketGet(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        (res.statusCode ?? 500) < 300 ? resolve(body) : reject(new Error(`${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0] ?? '';
}
