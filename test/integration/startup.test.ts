import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';

// SPEC §5, §8: a bad configuration stops the real server process before anything listens, with exit
// code 1 and a message naming the variable; secrets never reach the output.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'engram-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Exit {
  code: number | null;
  output: string;
}

/**
 * Starts `src/server.ts` with only `env` (plus PATH/HOME); `until(pattern)` resolves when its output matches,
 * `exited` when it exits. It is killed after 20 s.
 */
function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiting: { pattern: RegExp; resolve: () => void }[] = [];
  const collect = (c: Buffer) => {
    output += c.toString();
    for (const w of waiting.filter((w) => w.pattern.test(output))) w.resolve();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
  const until = (pattern: RegExp) =>
    Promise.race([
      new Promise<void>((resolve) => {
        if (pattern.test(output)) resolve();
        else waiting.push({ pattern, resolve });
      }),
      exited.then((exit) => {
        throw new Error(`server exited (${exit.code}) before printing ${pattern}:\n${exit.output}`);
      }),
    ]);
  return { child, exited, until };
}

/** Runs `src/server.ts` with only `env` (plus PATH/HOME) until it exits; kills it after 20 s. */
function runServer(env: Record<string, string>): Promise<Exit> {
  return startServer(env).exited;
}

/** Nothing listened: no listen log line and no "started" line (LOG_LEVEL=info would show both). */
function expectNeverListened(exit: Exit): void {
  expect(exit.output).not.toMatch(/Server listening|engram started/);
}

describe.concurrent('server startup', () => {
  it('startup - HTTP_PORT=abc - exit 1 naming HTTP_PORT before touching the database', async () => {
    const dbFile = join(dir, 'port.db');
    const exit = await runServer({ HTTP_PORT: 'abc', LIBSQL_URL: `file:${dbFile}` });
    expect(exit.code, exit.output).toBe(1);
    expect(exit.output).toMatch(/^engram: invalid configuration:\n\s+HTTP_PORT: /m);
    expectNeverListened(exit);
    expect(existsSync(dbFile), 'the database file was created').toBe(false);
  });

  it('startup - LIBSQL_URL=http://example.com (plain, remote) - exit 1 naming LIBSQL_URL, port never bound', async () => {
    const port = await freePort();
    const exit = await runServer({ HTTP_PORT: String(port), LIBSQL_URL: 'http://example.com' });
    expect(exit.code, exit.output).toBe(1);
    expect(exit.output).toMatch(/LIBSQL_URL: plain http:\/\/ to example\.com is refused/);
    expectNeverListened(exit);
  });

  it('startup - database cannot be opened - exit 1 "failed to start", port never bound', async () => {
    const port = await freePort();
    // Its directory would have to be inside a regular file (root ignores permissions, so use ENOTDIR).
    const notADirectory = join(dir, 'a-file');
    writeFileSync(notADirectory, 'x');
    const exit = await runServer({
      HTTP_PORT: String(port),
      LIBSQL_URL: `file:${join(notADirectory, 'e.db')}`,
    });
    expect(exit.code, exit.output).toBe(1);
    expect(exit.output).toContain('engram failed to start');
    expectNeverListened(exit);
  });

  it('startup - remote database down, expired token - reported; listens unready instead of exiting; the token never printed', async () => {
    const closed = await freePort();
    const header = Buffer.from('{"alg":"EdDSA","typ":"JWT"}').toString('base64url');
    const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) - 3600 })).toString(
      'base64url',
    );
    const signature = 'c2VjcmV0LXNpZ25hdHVyZS1ub3QtdG8tbGVhaw';
    const token = `${header}.${payload}.${signature}`;
    const port = await freePort();
    const server = startServer({
      HTTP_PORT: String(port),
      LIBSQL_URL: `http://127.0.0.1:${closed}`,
      LIBSQL_AUTH_TOKEN: token,
      DB_RETRY_MAX_ATTEMPTS: '1',
      DB_TIMEOUT_MS: '2000',
    });
    try {
      // Issue 14: no crash loop while the database is away; it listens, unready, and keeps trying.
      await server.until(/engram started/);
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'not_ready', reason: 'database unreachable' });
      const write = await fetch(`http://127.0.0.1:${port}/v1/episodes`, { method: 'POST' });
      expect(write.status).toBe(503);
    } finally {
      server.child.kill('SIGTERM');
    }
    const exit = await server.exited;
    expect(exit.code, exit.output).toBe(0);
    expect(exit.output).toContain('LIBSQL_AUTH_TOKEN has expired');
    expect(exit.output).toContain('database not answering at start');
    expect(exit.output).not.toContain(signature);
    expect(exit.output).not.toContain(payload);
  });
});
