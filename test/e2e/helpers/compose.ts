import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../helpers/ports.js';
import { E2E_API_KEYS } from './http.js';
import { type RunResult, run } from './process.js';
import { type ContainerRuntime, startHealthPump } from './runtime.js';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A name unique to this run, usable as a compose project name and an image tag. */
export function runId(prefix: string): string {
  return `${prefix}${process.pid}${randomBytes(3).toString('hex')}`;
}

/**
 * One `docker-compose.yml` project with a unique name, its own host ports (all given in `env`)
 * and no `.env` from the developer's checkout (an empty --env-file), so runs never clash.
 */
export class ComposeProject {
  private readonly envFile: string;
  private stopPump: () => void = () => {};

  constructor(
    readonly runtime: ContainerRuntime,
    readonly name: string,
    readonly env: Record<string, string>,
  ) {
    this.envFile = join(tmpdir(), `${name}.env`);
    writeFileSync(this.envFile, '');
  }

  compose(args: readonly string[], timeoutMs = 180_000, check = true): Promise<RunResult> {
    const [cmd, ...sub] = this.runtime.compose as [string, ...string[]];
    const global = ['-f', join(REPO_ROOT, 'docker-compose.yml'), '-p', this.name, '--env-file', this.envFile];
    return run(cmd, [...sub, ...global, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env },
      timeoutMs,
      check,
    });
  }

  /** `up -d` of the given profiles; images must exist (built by the test). */
  async up(profiles: readonly string[] = []): Promise<number> {
    this.stopPump();
    this.stopPump = startHealthPump(this.runtime, { label: `com.docker.compose.project=${this.name}` });
    const started = Date.now();
    await this.compose([...profiles.flatMap((p) => ['--profile', p]), 'up', '-d', '--no-build'], 300_000);
    return Date.now() - started;
  }

  async down({ volumes }: { volumes: boolean }): Promise<void> {
    await this.compose(
      ['--profile', 'scale', 'down', '--remove-orphans', ...(volumes ? ['-v'] : [])],
      180_000,
    );
  }

  /** By compose's labels (set by v1 and v2) through the engine CLI: much faster than `compose ps`. */
  async containerId(service: string): Promise<string> {
    const { stdout } = await run(this.runtime.docker, [
      'ps',
      '-aq',
      '--filter',
      `label=com.docker.compose.project=${this.name}`,
      '--filter',
      `label=com.docker.compose.service=${service}`,
    ]);
    const id = stdout.trim().split('\n')[0];
    if (!id) throw new Error(`no container for service ${service}`);
    return id;
  }

  async serviceLogs(service: string): Promise<string> {
    const res = await run(this.runtime.docker, ['logs', await this.containerId(service)], {
      timeoutMs: 60_000,
    });
    return res.stdout + res.stderr;
  }

  async exitCode(service: string): Promise<number> {
    const id = await this.containerId(service);
    const { stdout } = await run(this.runtime.docker, ['inspect', '--format', '{{.State.ExitCode}}', id]);
    return Number(stdout.trim());
  }

  async logs(tailLines = 60): Promise<string> {
    const res = await this.compose(
      ['--profile', 'scale', 'logs', '--no-color', '--tail', String(tailLines)],
      60_000,
      false,
    );
    return res.stdout + res.stderr;
  }

  /** Removes containers, networks and volumes; never throws (used in afterAll). */
  async destroy(): Promise<void> {
    this.stopPump();
    try {
      await this.down({ volumes: true });
    } catch (err) {
      console.error(`e2e: cleanup of ${this.name} failed: ${err instanceof Error ? err.message : err}`);
    }
  }
}

export interface StackUrls {
  engram: string;
  engram2: string;
  lb: string;
  /** HAProxy's own metrics (published on loopback only). */
  lbMetrics: string;
  prometheus: string;
}

/**
 * A project of docker-compose.yml running `image`, with every published port a free loopback one (sqld's too),
 * the load balancer's image tagged `engram-lb:<name>` and the run's API key; returns it with its services' URLs.
 */
export async function composeStack(
  runtime: ContainerRuntime,
  name: string,
  image: string,
): Promise<{ project: ComposeProject; urls: StackUrls }> {
  const [engram, engram2, lb, lbMetrics, prometheus, sqld] = (await Promise.all(
    [1, 2, 3, 4, 5, 6].map(() => freePort()),
  )) as [number, number, number, number, number, number];
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const project = new ComposeProject(runtime, name, {
    ENGRAM_IMAGE: image,
    LB_IMAGE: `engram-lb:${name}`,
    PUBLISH_ADDR: '127.0.0.1',
    ENGRAM_PORT: String(engram),
    ENGRAM_2_PORT: String(engram2),
    LB_PORT: String(lb),
    LB_METRICS_PORT: String(lbMetrics),
    PROMETHEUS_PORT: String(prometheus),
    SQLD_PORT: String(sqld),
    // Compose refuses to start without keys; the run makes its own.
    ENGRAM_API_KEYS: E2E_API_KEYS,
  });
  const urls = {
    engram: url(engram),
    engram2: url(engram2),
    lb: url(lb),
    lbMetrics: url(lbMetrics),
    prometheus: url(prometheus),
  };
  return { project, urls };
}
