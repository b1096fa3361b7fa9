import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './compose.js';
import { run } from './process.js';
import type { ContainerRuntime } from './runtime.js';

export interface BuiltImage {
  tag: string;
  bytes: number;
  buildMs: number;
}

// Everything the Dockerfile reads from the build context (keep in step with its COPY lines and
// .dockerignore). The image tag is a hash of these, so the test files of one run share one build.
const BUILD_INPUTS = [
  'Dockerfile',
  '.dockerignore',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'src',
  'routes',
];

/**
 * The image of the current sources, tagged `engram:e2e-<content hash>`: reused when it exists,
 * else built (other `engram:e2e-*` tags are then dropped; their layers stay cached). With
 * ENGRAM_E2E_IMAGE set, that prebuilt image is used instead. Prints the build time and size.
 */
export async function buildEngramImage(runtime: ContainerRuntime): Promise<BuiltImage> {
  const started = Date.now();
  let tag = process.env.ENGRAM_E2E_IMAGE;
  let how = 'prebuilt (ENGRAM_E2E_IMAGE)';
  if (!tag) {
    tag = `engram:e2e-${await hashBuildInputs()}`;
    const exists = await run(runtime.docker, ['image', 'inspect', tag], { check: false, timeoutMs: 30_000 });
    if (exists.code === 0) {
      how = 'reused (sources unchanged)';
    } else {
      await run(runtime.docker, ['build', '-t', tag, '-f', 'Dockerfile', '.'], {
        cwd: REPO_ROOT,
        timeoutMs: 900_000,
      });
      how = `built in ${((Date.now() - started) / 1000).toFixed(1)} s`;
      await dropOtherE2eTags(runtime, tag);
    }
  }
  const { stdout } = await run(runtime.docker, ['image', 'inspect', '--format', '{{.Size}}', tag]);
  const bytes = Number(stdout.trim());
  console.log(`e2e: image ${tag}: ${(bytes / 1e6).toFixed(1)} MB, ${how}`);
  return { tag, bytes, buildMs: Date.now() - started };
}

async function hashBuildInputs(): Promise<string> {
  const hash = createHash('sha256');
  const files = (
    await Promise.all(
      BUILD_INPUTS.map(async (entry) => {
        const info = await stat(join(REPO_ROOT, entry));
        if (!info.isDirectory()) return [entry];
        const nested = await readdir(join(REPO_ROOT, entry), { recursive: true, withFileTypes: true });
        return nested.filter((d) => d.isFile()).map((d) => relative(REPO_ROOT, join(d.parentPath, d.name)));
      }),
    )
  )
    .flat()
    .sort();
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(REPO_ROOT, file)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

async function dropOtherE2eTags(runtime: ContainerRuntime, keep: string): Promise<void> {
  const { stdout } = await run(runtime.docker, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], {
    check: false,
  });
  const stale = stdout
    .split('\n')
    .map((line) => line.trim().replace(/^(docker\.io\/library\/|localhost\/)/, ''))
    .filter((t) => t.startsWith('engram:e2e-') && t !== keep);
  // An image still used by a container (a parallel run) is refused and stays.
  for (const t of new Set(stale)) await removeImage(runtime, t);
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
