import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConfigSchema,
  databaseMode,
  hasApiKeys,
  loadConfig,
  tokenExpiredFor,
} from '../../src/config.js';

// SPEC §5 and §8: one schema, defaults from the spec, and the URL/TLS/token rules of a remote database.

/** The ConfigError message for `env`, or a failure if it loads. */
function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

const TOKEN = 'a-token';

describe('loadConfig defaults', () => {
  it('loadConfig - empty environment - every default of SPEC §5 and §8', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: 8080,
      LOG_LEVEL: 'info',
      HTTP_BODY_LIMIT_BYTES: 11 * 1024 * 1024,
      LIBSQL_URL: 'file:./data/engram.db',
      LIBSQL_ALLOW_INSECURE: 'false',
      DB_POOL_SIZE: 10,
      DB_RETRY_MAX_ATTEMPTS: 3,
      DB_RETRY_INITIAL_BACKOFF_MS: 100,
      DB_RETRY_MAX_BACKOFF_MS: 5000,
      DB_RETRY_MULTIPLIER: 2,
      DB_BREAKER_FAILURE_THRESHOLD: 5,
      DB_BREAKER_SUCCESS_THRESHOLD: 2,
      DB_BREAKER_TIMEOUT_MS: 60_000,
      DB_BREAKER_HALF_OPEN_MAX_CALLS: 3,
    });
    expect(config.LIBSQL_AUTH_TOKEN).toBeUndefined();
    expect(config.LIBSQL_SYNC_URL).toBeUndefined();
    expect(databaseMode(config)).toBe('embedded');
  });

  it('loadConfig - empty strings - treated as unset, so the default applies', () => {
    const config = loadConfig({ HTTP_PORT: '', LIBSQL_AUTH_TOKEN: '', LIBSQL_SYNC_URL: '' });
    expect(config.HTTP_PORT).toBe(8080);
    expect(config.LIBSQL_AUTH_TOKEN).toBeUndefined();
    expect(databaseMode(config)).toBe('embedded');
  });

  it('loadConfig - unrelated variables - ignored', () => {
    expect(() => loadConfig({ PATH: '/usr/bin', HOME: '/root', NODE_ENV: 'weird' })).not.toThrow();
  });

  it('loadConfig - numbers given as strings - coerced', () => {
    const config = loadConfig({ HTTP_PORT: '9090', DB_POOL_SIZE: '3', DB_RETRY_MULTIPLIER: '1.5' });
    expect(config).toMatchObject({ HTTP_PORT: 9090, DB_POOL_SIZE: 3, DB_RETRY_MULTIPLIER: 1.5 });
  });

  it('loadConfig - LIBSQL_ALLOW_INSECURE "false", "true" or a host list - kept as written', () => {
    expect(loadConfig({ LIBSQL_ALLOW_INSECURE: 'false' }).LIBSQL_ALLOW_INSECURE).toBe('false');
    expect(loadConfig({ LIBSQL_ALLOW_INSECURE: 'true' }).LIBSQL_ALLOW_INSECURE).toBe('true');
    expect(loadConfig({ LIBSQL_ALLOW_INSECURE: 'sqld,sqld-replica' }).LIBSQL_ALLOW_INSECURE).toBe(
      'sqld,sqld-replica',
    );
  });
});

describe('loadConfig bad values', () => {
  it.each([
    ['HTTP_PORT', 'abc'],
    ['HTTP_PORT', '70000'],
    ['HTTP_PORT', '80.5'],
    ['LOG_LEVEL', 'loud'],
    ['DB_POOL_SIZE', '0'],
    ['DB_RETRY_MAX_ATTEMPTS', '-1'],
    ['DB_RETRY_MULTIPLIER', 'fast'],
    ['LIBSQL_ALLOW_INSECURE', 'sqld, sqld-replica'],
    ['LIBSQL_ALLOW_INSECURE', 'http://sqld'],
    ['HTTP_BODY_LIMIT_BYTES', '10'],
  ])('loadConfig - %s=%s - ConfigError naming the variable', (name, value) => {
    expect(refusal({ [name]: value })).toMatch(new RegExp(`^invalid configuration:\\n\\s+${name}: `));
  });

  it('loadConfig - several bad variables - every one is named', () => {
    const message = refusal({ HTTP_PORT: 'abc', LOG_LEVEL: 'loud', DB_TIMEOUT_MS: '0' });
    for (const name of ['HTTP_PORT', 'LOG_LEVEL', 'DB_TIMEOUT_MS']) expect(message).toContain(`${name}: `);
  });
});

describe('loadConfig database URL rules (SPEC §5)', () => {
  describe('refusals', () => {
    it('LIBSQL_URL - plain http:// to a non-loopback host - refused, even with a token', () => {
      const message = refusal({ LIBSQL_URL: 'http://db.example.com:8080', LIBSQL_AUTH_TOKEN: TOKEN });
      expect(message).toMatch(/^LIBSQL_URL: plain http:\/\/ to db\.example\.com is refused/);
      expect(message).toContain('LIBSQL_ALLOW_INSECURE');
    });

    it('LIBSQL_URL - plain ws:// to a non-loopback host - refused', () => {
      expect(refusal({ LIBSQL_URL: 'ws://db.example.com', LIBSQL_AUTH_TOKEN: TOKEN })).toMatch(
        /^LIBSQL_URL: plain ws:\/\/ to db\.example\.com is refused/,
      );
    });

    it('LIBSQL_URL - libsql:// with ?tls=0 to a non-loopback host - refused', () => {
      expect(refusal({ LIBSQL_URL: 'libsql://db.example.com?tls=0', LIBSQL_AUTH_TOKEN: TOKEN })).toMatch(
        /^LIBSQL_URL: plain libsql:\/\/ to db\.example\.com is refused/,
      );
    });

    it('LIBSQL_URL - TLS URL without a token to a non-loopback host - refused naming LIBSQL_AUTH_TOKEN', () => {
      for (const url of ['libsql://db.example.com', 'https://db.example.com', 'wss://db.example.com']) {
        expect(refusal({ LIBSQL_URL: url })).toMatch(
          /^LIBSQL_AUTH_TOKEN: required for the remote database db\.example\.com/,
        );
      }
    });

    it('LIBSQL_URL - unsupported scheme - refused naming the scheme', () => {
      expect(refusal({ LIBSQL_URL: 'postgres://db.example.com/x', LIBSQL_AUTH_TOKEN: TOKEN })).toMatch(
        /^LIBSQL_URL: unsupported scheme "postgres:"/,
      );
      expect(refusal({ LIBSQL_URL: 'ftp://db.example.com', LIBSQL_AUTH_TOKEN: TOKEN })).toMatch(
        /^LIBSQL_URL: unsupported scheme "ftp:"/,
      );
    });

    it('LIBSQL_URL - not a URL at all - refused', () => {
      expect(refusal({ LIBSQL_URL: 'engram.db' })).toMatch(/^LIBSQL_URL: not a valid URL/);
    });

    it('LIBSQL_URL - host that merely starts with "127." - not loopback, plain http refused', () => {
      // A DNS name such as 127.example.com resolves wherever its owner wants: it is not the loopback network.
      expect(refusal({ LIBSQL_URL: 'http://127.attacker.example', LIBSQL_AUTH_TOKEN: TOKEN })).toMatch(
        /^LIBSQL_URL: plain http:\/\//,
      );
    });

    it('LIBSQL_SYNC_URL - plain http:// primary off loopback - refused naming LIBSQL_SYNC_URL', () => {
      expect(
        refusal({
          LIBSQL_URL: 'file:/tmp/replica.db',
          LIBSQL_SYNC_URL: 'http://primary.example.com',
          LIBSQL_AUTH_TOKEN: TOKEN,
        }),
      ).toMatch(/^LIBSQL_SYNC_URL: plain http:\/\/ to primary\.example\.com is refused/);
    });

    it('LIBSQL_SYNC_URL - TLS primary without a token - refused naming LIBSQL_AUTH_TOKEN', () => {
      expect(
        refusal({ LIBSQL_URL: 'file:/tmp/replica.db', LIBSQL_SYNC_URL: 'libsql://primary.example.com' }),
      ).toMatch(/^LIBSQL_AUTH_TOKEN: required for the remote database primary\.example\.com/);
    });

    it('LIBSQL_SYNC_URL - unsupported scheme - refused naming LIBSQL_SYNC_URL', () => {
      expect(
        refusal({
          LIBSQL_URL: 'file:/tmp/replica.db',
          LIBSQL_SYNC_URL: 'mysql://primary.example.com',
          LIBSQL_AUTH_TOKEN: TOKEN,
        }),
      ).toMatch(/^LIBSQL_SYNC_URL: unsupported scheme "mysql:"/);
    });

    it('LIBSQL_READ_URL - with an embedded LIBSQL_URL or an embedded replica - refused naming LIBSQL_READ_URL', () => {
      expect(refusal({ LIBSQL_READ_URL: 'http://127.0.0.1:8081' })).toMatch(
        /^LIBSQL_READ_URL: a read replica needs a remote LIBSQL_URL/,
      );
      expect(
        refusal({
          LIBSQL_URL: 'file:/tmp/replica.db',
          LIBSQL_SYNC_URL: 'libsql://primary.example.com',
          LIBSQL_READ_URL: 'libsql://replica.example.com',
          LIBSQL_AUTH_TOKEN: TOKEN,
        }),
      ).toMatch(/^LIBSQL_READ_URL: a read replica needs a remote LIBSQL_URL/);
    });

    it('LIBSQL_READ_URL - plain http:// replica off loopback - refused naming LIBSQL_READ_URL; allowed when insecure', () => {
      const env = {
        LIBSQL_URL: 'libsql://primary.example.com',
        LIBSQL_READ_URL: 'http://replica.example.com',
        LIBSQL_AUTH_TOKEN: TOKEN,
      };
      expect(refusal(env)).toMatch(/^LIBSQL_READ_URL: plain http:\/\/ to replica\.example\.com is refused/);
      expect(loadConfig({ ...env, LIBSQL_ALLOW_INSECURE: 'true' }).LIBSQL_READ_URL).toBe(
        'http://replica.example.com',
      );
    });

    it('LIBSQL_READ_URL - remote primary and TLS replica with a token - accepted, 1 s wait by default', () => {
      const config = loadConfig({
        LIBSQL_URL: 'libsql://primary.example.com',
        LIBSQL_READ_URL: 'libsql://replica.example.com',
        LIBSQL_AUTH_TOKEN: TOKEN,
      });
      expect(config.LIBSQL_READ_URL).toBe('libsql://replica.example.com');
      expect(config.LIBSQL_READ_WAIT_MS).toBe(1_000);
    });

    it('embedded replica - LIBSQL_URL is not a file: URL - refused naming LIBSQL_URL', () => {
      expect(
        refusal({
          LIBSQL_URL: 'libsql://replica.example.com',
          LIBSQL_SYNC_URL: 'libsql://primary.example.com',
          LIBSQL_AUTH_TOKEN: TOKEN,
        }),
      ).toMatch(/^LIBSQL_URL: an embedded replica \(LIBSQL_SYNC_URL set\) needs a file: URL/);
    });

    it('LIBSQL_ALLOW_INSECURE=sqld - another host (Turso without a token, say) - still refused', () => {
      expect(
        refusal({ LIBSQL_URL: 'http://db.example.com', LIBSQL_ALLOW_INSECURE: 'sqld,sqld-replica' }),
      ).toMatch(/^LIBSQL_URL: plain/);
      expect(refusal({ LIBSQL_URL: 'libsql://db.example.com', LIBSQL_ALLOW_INSECURE: 'sqld' })).toMatch(
        /^LIBSQL_AUTH_TOKEN: required/,
      );
    });

    it('LIBSQL_ALLOW_INSECURE=false - explicit false - plain http off loopback still refused', () => {
      expect(refusal({ LIBSQL_URL: 'http://db.example.com', LIBSQL_ALLOW_INSECURE: 'false' })).toMatch(
        /^LIBSQL_URL: plain/,
      );
    });
  });

  describe('acceptances', () => {
    it.each([
      'http://127.0.0.1:8080',
      'http://localhost:8080',
      'http://[::1]:8080',
      'ws://127.0.0.1:8080',
      'libsql://localhost:8080?tls=0',
      'http://127.1.2.3:8080',
    ])('LIBSQL_URL=%s - loopback, plain, no token - accepted as remote', (url) => {
      const config = loadConfig({ LIBSQL_URL: url });
      expect(config.LIBSQL_URL).toBe(url);
      expect(databaseMode(config)).toBe('remote');
    });

    it('LIBSQL_ALLOW_INSECURE=true - plain http off loopback without a token - accepted (private network)', () => {
      const config = loadConfig({ LIBSQL_URL: 'http://sqld:8080', LIBSQL_ALLOW_INSECURE: 'true' });
      expect(databaseMode(config)).toBe('remote');
    });

    it('LIBSQL_ALLOW_INSECURE=sqld,sqld-replica - plain http to a listed host without a token - accepted', () => {
      for (const url of ['http://sqld:8080', 'http://SQLD-replica:8080']) {
        expect(
          databaseMode(loadConfig({ LIBSQL_URL: url, LIBSQL_ALLOW_INSECURE: 'sqld,sqld-replica' })),
        ).toBe('remote');
      }
    });

    it.each(['libsql://db.example.com', 'https://db.example.com', 'wss://db.example.com'])(
      'LIBSQL_URL=%s - TLS with a token - accepted',
      (url) => {
        expect(databaseMode(loadConfig({ LIBSQL_URL: url, LIBSQL_AUTH_TOKEN: TOKEN }))).toBe('remote');
      },
    );

    it('embedded replica - file: URL with a TLS primary and a token - accepted', () => {
      const config = loadConfig({
        LIBSQL_URL: 'file:/tmp/replica.db',
        LIBSQL_SYNC_URL: 'libsql://primary.example.com',
        LIBSQL_AUTH_TOKEN: TOKEN,
        LIBSQL_SYNC_INTERVAL_S: '5',
      });
      expect(databaseMode(config)).toBe('embedded_replica');
      expect(config.LIBSQL_SYNC_INTERVAL_S).toBe(5);
    });

    it('embedded replica - loopback plain primary without a token - accepted', () => {
      const config = loadConfig({
        LIBSQL_URL: 'file:/tmp/replica.db',
        LIBSQL_SYNC_URL: 'http://127.0.0.1:8080',
      });
      expect(databaseMode(config)).toBe('embedded_replica');
    });

    it.each(['file:./data/engram.db', 'file:///tmp/engram.db', ':memory:'])(
      'LIBSQL_URL=%s - local - embedded, no token needed',
      (url) => {
        expect(databaseMode(loadConfig({ LIBSQL_URL: url }))).toBe('embedded');
      },
    );
  });
});

describe('tokenExpiredFor', () => {
  const jwt = (payload: object) =>
    `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
  const now = Date.parse('2026-11-25T12:00:00.000Z');

  it('tokenExpiredFor - JWT expired an hour ago - 3600 seconds', () => {
    expect(tokenExpiredFor(jwt({ exp: now / 1000 - 3600 }), now)).toBe(3600);
  });

  it('tokenExpiredFor - JWT expiring later - null', () => {
    expect(tokenExpiredFor(jwt({ exp: now / 1000 + 60 }), now)).toBeNull();
  });

  it('tokenExpiredFor - no token, opaque token, JWT without exp, garbage payload - null', () => {
    expect(tokenExpiredFor(undefined, now)).toBeNull();
    expect(tokenExpiredFor('opaque-token', now)).toBeNull();
    expect(tokenExpiredFor(jwt({ sub: 'x' }), now)).toBeNull();
    expect(tokenExpiredFor('a.!!!not-base64-json!!!.c', now)).toBeNull();
  });
});

describe('ConfigSchema', () => {
  it('ConfigSchema - every variable - has a description (it documents .env.example)', () => {
    for (const [name, schema] of Object.entries(ConfigSchema.shape)) {
      expect(schema.description, name).toBeTruthy();
    }
  });
});

describe('loadConfig security settings (SPEC §6)', () => {
  it('loadConfig - defaults - no keys, anonymous not allowed, rate limit off, /metrics open', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ ENGRAM_ALLOW_ANONYMOUS: false, RATE_LIMIT_PER_MINUTE: 0 });
    expect(config.ENGRAM_API_KEYS).toBeUndefined();
    expect(config.ENGRAM_API_KEYS_FILE).toBeUndefined();
    expect(config.METRICS_TOKEN).toBeUndefined();
    expect(hasApiKeys(config)).toBe(false);
  });

  it.each(['0.0.0.0', '::', '10.1.2.3', 'engram.example.com', '127.example.com'])(
    'loadConfig - HTTP_HOST=%s without keys - refused naming ENGRAM_API_KEYS and the way out',
    (host) => {
      const message = refusal({ HTTP_HOST: host });
      expect(message).toMatch(/^ENGRAM_API_KEYS: required to listen on /);
      expect(message).toContain('ENGRAM_ALLOW_ANONYMOUS=true');
    },
  );

  it.each(['127.0.0.1', '127.0.0.53', 'localhost', '::1'])(
    'loadConfig - HTTP_HOST=%s (loopback) without keys - accepted',
    (host) => {
      expect(loadConfig({ HTTP_HOST: host }).HTTP_HOST).toBe(host);
    },
  );

  it('loadConfig - HTTP_HOST=0.0.0.0 with keys, a key file, or ENGRAM_ALLOW_ANONYMOUS=true - accepted', () => {
    const key = `${'k'.repeat(32)}:acme:write`;
    expect(hasApiKeys(loadConfig({ HTTP_HOST: '0.0.0.0', ENGRAM_API_KEYS: key }))).toBe(true);
    expect(hasApiKeys(loadConfig({ HTTP_HOST: '0.0.0.0', ENGRAM_API_KEYS_FILE: '/run/secrets/keys' }))).toBe(
      true,
    );
    const open = loadConfig({ HTTP_HOST: '0.0.0.0', ENGRAM_ALLOW_ANONYMOUS: 'true' });
    expect(open.ENGRAM_ALLOW_ANONYMOUS).toBe(true);
    expect(hasApiKeys(open)).toBe(false);
  });

  it.each([
    ['RATE_LIMIT_PER_MINUTE', '-1'],
    ['RATE_LIMIT_PER_MINUTE', 'lots'],
    ['METRICS_TOKEN', 'short'],
    ['ENGRAM_ALLOW_ANONYMOUS', 'yes please'],
  ])('loadConfig - %s=%s - ConfigError naming the variable', (name, value) => {
    expect(refusal({ [name]: value })).toMatch(new RegExp(`^invalid configuration:\\n\\s+${name}: `));
  });

  it('loadConfig - a refused METRICS_TOKEN - the message does not quote it', () => {
    expect(refusal({ METRICS_TOKEN: 'tiny-secret' })).not.toContain('tiny-secret');
  });
});
