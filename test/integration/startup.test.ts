import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { startSqld } from '../helpers/sqld.js';

// SPEC §5, §8: a bad configuration stops the real server process before anything listens, with exit
// code 1 and a message naming the variable; secrets never reach the output.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'engram-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Exit {
  code: number | null;
  output: string;
}

/** Runs `src/server.ts` with only `env` (plus PATH/HOME) until it exits; kills it after 20 s. */
const runServer = (env: Record<string, string>): Promise<Exit> =>
  runServerUntil(env, null, undefined, 20_000);

/**
 * Runs `src/server.ts` with only `env` (plus PATH/HOME) until a log line matches `ready` (then `probe` runs
 * against it and it gets SIGTERM), or until it exits by itself; killed after `killAfterMs`.
 */
function runServerUntil(
  env: Record<string, string>,
  ready: RegExp | null,
  probe: () => Promise<void> = async () => undefined,
  killAfterMs = 30_000,
): Promise<Exit & { probeError?: unknown }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let probing = false;
    let probeError: unknown;
    const onData = (c: Buffer) => {
      output += c.toString();
      if (probing || !ready?.test(output)) return;
      probing = true;
      probe()
        .catch((err: unknown) => {
          probeError = err;
        })
        .finally(() => child.kill('SIGTERM'));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, probeError });
    });
  });
}

/** A JWT-shaped token whose `exp` is `offsetS` seconds from now; its signature part is distinctive. */
function jwt(offsetS: number): { token: string; signature: string } {
  const header = Buffer.from('{"alg":"EdDSA","typ":"JWT"}').toString('base64url');
  const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + offsetS })).toString(
    'base64url',
  );
  const signature = `c2lnbmF0dXJlLW5vdC10by1sZWFr${offsetS > 0 ? 'Zg' : 'Ag'}`;
  return { token: `${header}.${payload}.${signature}`, signature };
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
    // Issue 14: no crash loop while the database is away; it listens, unready, and keeps trying.
    const exit = await runServerUntil(
      {
        HTTP_PORT: String(port),
        LIBSQL_URL: `http://127.0.0.1:${closed}`,
        LIBSQL_AUTH_TOKEN: token,
        DB_RETRY_MAX_ATTEMPTS: '1',
        DB_TIMEOUT_MS: '2000',
      },
      /engram started/,
      async () => {
        const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toEqual({ status: 'not_ready', reason: 'database unreachable' });
        const write = await fetch(`http://127.0.0.1:${port}/v1/episodes`, { method: 'POST' });
        expect(write.status).toBe(503);
      },
    );
    expect(exit.probeError).toBeUndefined();
    expect(exit.code, exit.output).toBe(0);
    expect(exit.output).toContain('LIBSQL_AUTH_TOKEN has expired');
    expect(exit.output).toContain('database not answering at start');
    expect(exit.output).not.toContain(signature);
    expect(exit.output).not.toContain(payload);
  });
});

// One at a time: each start compiles the app with tsx, and several at once on a loaded 2-core machine take
// longer than the 20 s a start is given.
describe('server startup: API keys (SPEC §6)', () => {
  const KEY = 'startup-key-0123456789abcdef';

  it('startup - key file with a malformed line - exit 1 naming the file and line, never the key, port never bound', async () => {
    const file = join(dir, 'keys-bad');
    writeFileSync(file, `# keys\n${KEY}:acme:write\n${KEY}-second:acme:owner\n`);
    const exit = await runServer({ HTTP_PORT: String(await freePort()), ENGRAM_API_KEYS_FILE: file });
    expect(exit.code, exit.output).toBe(1);
    expect(exit.output).toContain(
      'engram: ENGRAM_API_KEYS_FILE line 3: the role must be read, write or admin',
    );
    expect(exit.output).not.toContain(KEY);
    expectNeverListened(exit);
  });

  it('startup - the same key in ENGRAM_API_KEYS and the file - exit 1 naming both places', async () => {
    const file = join(dir, 'keys-dup');
    writeFileSync(file, `${KEY}:acme:read\n`);
    const exit = await runServer({
      HTTP_PORT: String(await freePort()),
      ENGRAM_API_KEYS: `${KEY}:acme:write`,
      ENGRAM_API_KEYS_FILE: file,
    });
    expect(exit.code, exit.output).toBe(1);
    expect(exit.output).toContain('ENGRAM_API_KEYS_FILE line 1: the same key as ENGRAM_API_KEYS entry 1');
    expect(exit.output).not.toContain(KEY);
    expectNeverListened(exit);
  });

  it('startup - HTTP_HOST=0.0.0.0 and no keys - exit 1 naming ENGRAM_API_KEYS, port never bound', async () => {
    const exit = await runServer({ HTTP_HOST: '0.0.0.0', HTTP_PORT: String(await freePort()) });
    expect(exit.code, exit.output).toBe(1);
    expect(exit.output).toMatch(/engram: ENGRAM_API_KEYS: required to listen on 0\.0\.0\.0/);
    expectNeverListened(exit);
  });

  it('startup - no keys on loopback - serves /v1 openly and warns loudly that it does', async () => {
    const port = await freePort();
    const exit = await runServerUntil(
      { HTTP_PORT: String(port), LIBSQL_URL: `file:${join(dir, 'anonymous.db')}` },
      /engram started/,
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/episodes`);
        expect(res.status).toBe(200);
      },
    );
    expect(exit.probeError).toBeUndefined();
    const warning = exit.output.split('\n').find((line) => line.includes('NO API KEYS CONFIGURED'));
    expect(warning, exit.output).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ level: 40 });
  });

  it('startup - key file with a hashed key on 0.0.0.0 - serves with the key, 401 without; the key never printed', async () => {
    const file = join(dir, 'keys-hashed');
    const digest = createHash('sha256').update(KEY).digest('hex');
    writeFileSync(file, `# hashed, so the plain key is not on disk\nsha256:${digest}:acme:write\n`);
    const port = await freePort();
    const exit = await runServerUntil(
      {
        HTTP_HOST: '0.0.0.0',
        HTTP_PORT: String(port),
        LOG_LEVEL: 'trace',
        ENGRAM_API_KEYS_FILE: file,
        LIBSQL_URL: `file:${join(dir, 'keys.db')}`,
      },
      /engram started/,
      async () => {
        const url = `http://127.0.0.1:${port}/v1/episodes`;
        expect((await fetch(url)).status).toBe(401);
        const res = await fetch(url, { headers: { authorization: `Bearer ${KEY}` } });
        expect(res.status).toBe(200);
      },
    );
    expect(exit.probeError).toBeUndefined();
    expect(exit.output).not.toContain('NO API KEYS');
    expect(exit.output).not.toContain(KEY);
  });
});

describe('server startup: the database token (SPEC §5)', () => {
  it('startup - real sqld, valid JWT token, LOG_LEVEL=trace - serves, no expiry report, the token never printed', async () => {
    const sqld = await startSqld({ kind: 'binary', quiet: true });
    try {
      const { token, signature } = jwt(3600);
      const port = await freePort();
      const exit = await runServerUntil(
        { HTTP_PORT: String(port), LOG_LEVEL: 'trace', LIBSQL_URL: sqld.url, LIBSQL_AUTH_TOKEN: token },
        /engram started/,
        async () => {
          expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
        },
      );
      expect(exit.probeError).toBeUndefined();
      expect(exit.output).toContain('engram started');
      expect(exit.output).not.toContain('has expired');
      expect(exit.output).not.toContain(signature);
      expect(exit.output).not.toContain(token.split('.')[1]);
    } finally {
      await sqld.stop();
    }
  });

  it('startup - real sqld, expired JWT token - reported at start (the server still tries), the token never printed', async () => {
    const sqld = await startSqld({ kind: 'binary', quiet: true });
    try {
      const { token, signature } = jwt(-7200);
      const exit = await runServerUntil(
        {
          HTTP_PORT: String(await freePort()),
          LOG_LEVEL: 'trace',
          LIBSQL_URL: sqld.url,
          LIBSQL_AUTH_TOKEN: token,
        },
        /engram started/,
      );
      const report = exit.output.split('\n').find((line) => line.includes('LIBSQL_AUTH_TOKEN has expired'));
      expect(report, exit.output).toBeDefined();
      expect(JSON.parse(report as string)).toMatchObject({ level: 50, expired_s_ago: expect.any(Number) });
      expect(JSON.parse(report as string).expired_s_ago).toBeGreaterThanOrEqual(7200);
      expect(exit.output).not.toContain(signature);
    } finally {
      await sqld.stop();
    }
  });

  it('startup - token to a non-loopback TLS URL refused without a token; plain http off loopback refused even with one', async () => {
    const port = String(await freePort());
    const noToken = await runServer({ HTTP_PORT: port, LIBSQL_URL: 'libsql://db.example.com' });
    expect(noToken.code).toBe(1);
    expect(noToken.output).toContain('LIBSQL_AUTH_TOKEN: required for the remote database db.example.com');
    const { token, signature } = jwt(3600);
    const plain = await runServer({
      HTTP_PORT: port,
      LIBSQL_URL: 'ws://db.example.com',
      LIBSQL_AUTH_TOKEN: token,
    });
    expect(plain.code).toBe(1);
    expect(plain.output).toContain('LIBSQL_URL: plain ws:// to db.example.com is refused');
    expect(plain.output).not.toContain(signature);
    expectNeverListened(noToken);
    expectNeverListened(plain);
  });
});
