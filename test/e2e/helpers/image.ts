import { REPO_ROOT } from './compose.js';
import { run } from './process.js';
import type { ContainerRuntime } from './runtime.js';

export interface BuiltImage {
  tag: string;
  bytes: number;
  buildMs: number;
  /** false when ENGRAM_E2E_IMAGE named a prebuilt image: then the test does not remove it. */
  owned: boolean;
}

/**
 * Builds the repository's Dockerfile under `tag` (layer cache makes a rebuild take seconds), or
 * uses the image named by ENGRAM_E2E_IMAGE. Prints the build time and the image size.
 */
export async function buildEngramImage(runtime: ContainerRuntime, tag: string): Promise<BuiltImage> {
  const prebuilt = process.env.ENGRAM_E2E_IMAGE;
  const started = Date.now();
  if (!prebuilt) {
    await run(runtime.docker, ['build', '--pull=false', '-t', tag, '-f', 'Dockerfile', '.'], {
      cwd: REPO_ROOT,
      timeoutMs: 900_000,
    });
  }
  const image = prebuilt ?? tag;
  const { stdout } = await run(runtime.docker, ['image', 'inspect', '--format', '{{.Size}}', image]);
  const bytes = Number(stdout.trim());
  const buildMs = Date.now() - started;
  console.log(
    `e2e: image ${image}: ${(bytes / 1e6).toFixed(1)} MB` +
      (prebuilt ? ' (prebuilt)' : `, built in ${(buildMs / 1000).toFixed(1)} s`),
  );
  return { tag: image, bytes, buildMs, owned: !prebuilt };
}

export async function inspectImage(runtime: ContainerRuntime, tag: string): Promise<ImageConfig> {
  const { stdout } = await run(runtime.docker, ['image', 'inspect', '--format', '{{json .Config}}', tag]);
  return JSON.parse(stdout) as ImageConfig;
}

export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown> | null;
  StopSignal?: string;
}

/** Removes an image tag (the layers stay cached); never throws. */
export async function removeImage(runtime: ContainerRuntime, tag: string): Promise<void> {
  await run(runtime.docker, ['rmi', tag], { check: false, timeoutMs: 60_000 });
}
