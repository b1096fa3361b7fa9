import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { KeyRing, loadApiKeys, parseApiKey, roleAllows } from '../../src/http/api-keys.js';

// SPEC §6: API keys map to a tenant and a role; only digests are kept; bad entries stop the service at
// start with a message naming the entry or line and never the key.

const KEY_A = 'a'.repeat(20) + 'Key-One_~+/=';
const KEY_B = 'bbbbbbbbbbbbbbbbbbbb-two';
const hex = (key: string) => createHash('sha256').update(key).digest('hex');

/** The ConfigError message of loading `config` with `file` as the key file's text. */
function refusal(config: { ENGRAM_API_KEYS?: string; ENGRAM_API_KEYS_FILE?: string }, file = ''): string {
  try {
    loadApiKeys(config, () => file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseApiKey', () => {
  it('parseApiKey - key:tenant:role - digest of the key, tenant, role', () => {
    const key = parseApiKey(`${KEY_A}:acme:write`, 'here');
    expect(key).toEqual({
      digest: Buffer.from(hex(KEY_A), 'hex'),
      tenant: 'acme',
      role: 'write',
      source: 'here',
    });
  });

  it('parseApiKey - sha256:<hex>:tenant:role - the given digest (upper-case hex too)', () => {
    const key = parseApiKey(`sha256:${hex(KEY_A).toUpperCase()}:acme:read`, 'here');
    expect(key.digest.toString('hex')).toBe(hex(KEY_A));
    expect(key.role).toBe('read');
  });

  it.each([
    ['too few parts', `${KEY_A}:acme`, /expected key:tenant:role/],
    ['too many parts', `${KEY_A}:acme:read:extra`, /expected key:tenant:role/],
    ['hashed, too few parts', `sha256:${hex(KEY_A)}:acme`, /expected key:tenant:role/],
    ['short key', 'short-key:acme:read', /the key must be 16\.\.512 characters/],
    ['key with a space', `${KEY_A} x:acme:read`, /the key must be/],
    ['bad digest', 'sha256:abc:acme:read', /the digest must be 64 hex digits/],
    ['bad tenant', `${KEY_A}:ac me:read`, /the tenant must be/],
    ['empty tenant', `${KEY_A}::read`, /the tenant must be/],
    ['bad role', `${KEY_A}:acme:owner`, /the role must be read, write or admin/],
  ])('parseApiKey - %s - ConfigError naming the source, never the entry', (_, entry, message) => {
    let error: unknown;
    try {
      parseApiKey(entry, 'ENGRAM_API_KEYS entry 2');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text).toMatch(/^ENGRAM_API_KEYS entry 2: /);
    expect(text).toMatch(message);
    const quoted = entry.split(':').filter((p) => p.length >= 3 && !['sha256', 'read'].includes(p));
    for (const part of quoted) expect(text).not.toContain(part);
  });

  it('parseApiKey - entry in the wrong order (role:tenant:key) - refused without quoting the key', () => {
    const message = (() => {
      try {
        parseApiKey(`write:acme:${KEY_A}`, 'line 1');
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(message).toMatch(/^line 1: /);
    expect(message).not.toContain(KEY_A);
  });
});

describe('loadApiKeys', () => {
  it('loadApiKeys - nothing configured - no keys', () => {
    expect(loadApiKeys({})).toEqual([]);
  });

  it('loadApiKeys - env entries with spaces and a trailing comma - every key, in order', () => {
    const keys = loadApiKeys({ ENGRAM_API_KEYS: ` ${KEY_A}:acme:write , ${KEY_B}:globex:admin,` });
    expect(keys.map((k) => [k.tenant, k.role, k.source])).toEqual([
      ['acme', 'write', 'ENGRAM_API_KEYS entry 1'],
      ['globex', 'admin', 'ENGRAM_API_KEYS entry 2'],
    ]);
  });

  it('loadApiKeys - file with comments, blank lines, CRLF and a hashed key, plus the env - both sources', () => {
    const file = `# keys of acme\r\n\r\nsha256:${hex(KEY_A)}:acme:read\r\n   # indented comment\n${KEY_B}:acme:write\n`;
    const keys = loadApiKeys(
      { ENGRAM_API_KEYS: `${'c'.repeat(32)}:globex:admin`, ENGRAM_API_KEYS_FILE: '/etc/engram/keys' },
      () => file,
    );
    expect(keys.map((k) => `${k.source}=${k.tenant}/${k.role}`)).toEqual([
      'ENGRAM_API_KEYS entry 1=globex/admin',
      'ENGRAM_API_KEYS_FILE line 3=acme/read',
      'ENGRAM_API_KEYS_FILE line 5=acme/write',
    ]);
  });

  it('loadApiKeys - malformed file line - names the line number, not the line', () => {
    const message = refusal(
      { ENGRAM_API_KEYS_FILE: 'keys' },
      `# ok\n${KEY_A}:acme:read\n${KEY_B}:acme:superuser\n`,
    );
    expect(message).toBe('ENGRAM_API_KEYS_FILE line 3: the role must be read, write or admin');
  });

  it('loadApiKeys - the same key twice (plain and hashed, across sources) - names both places, not the key', () => {
    const message = refusal(
      { ENGRAM_API_KEYS: `${KEY_A}:acme:read`, ENGRAM_API_KEYS_FILE: 'keys' },
      `sha256:${hex(KEY_A)}:globex:admin\n`,
    );
    expect(message).toBe('ENGRAM_API_KEYS_FILE line 1: the same key as ENGRAM_API_KEYS entry 1');
  });

  it('loadApiKeys - duplicate within the env - refused', () => {
    expect(refusal({ ENGRAM_API_KEYS: `${KEY_A}:acme:read,${KEY_A}:acme:read` })).toBe(
      'ENGRAM_API_KEYS entry 2: the same key as ENGRAM_API_KEYS entry 1',
    );
  });

  it('loadApiKeys - file with no entries - refused (keys were asked for and none given)', () => {
    expect(refusal({ ENGRAM_API_KEYS_FILE: '/keys' }, '# nothing yet\n\n')).toBe(
      'ENGRAM_API_KEYS_FILE: /keys holds no keys',
    );
  });

  it('loadApiKeys - ENGRAM_API_KEYS of commas and blanks - refused (it would run open while keys were asked for)', () => {
    expect(refusal({ ENGRAM_API_KEYS: ' , ,' })).toBe('ENGRAM_API_KEYS: holds no keys');
  });

  it('loadApiKeys - unreadable file - refused with the reason', () => {
    let message = '';
    try {
      loadApiKeys({ ENGRAM_API_KEYS_FILE: '/nonexistent/engram-keys' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('ENGRAM_API_KEYS_FILE: cannot read /nonexistent/engram-keys: ENOENT');
  });
});

describe('KeyRing', () => {
  const ring = new KeyRing(
    loadApiKeys({ ENGRAM_API_KEYS: `${KEY_A}:acme:write,sha256:${hex(KEY_B)}:globex:read` }),
  );

  it('identify - a configured key (plain or given hashed) - its tenant and role, and an id that is not the key', () => {
    expect(ring.identify(KEY_A)).toEqual({ tenant: 'acme', role: 'write', keyId: hex(KEY_A) });
    expect(ring.identify(KEY_B)).toMatchObject({ tenant: 'globex', role: 'read' });
    expect(ring.identify(KEY_A)?.keyId).not.toContain(KEY_A);
  });

  it('identify - unknown, empty, prefix or extended key, other case - null', () => {
    for (const token of ['', 'nope', KEY_A.slice(0, -1), `${KEY_A}x`, KEY_A.toUpperCase(), hex(KEY_A)]) {
      expect(ring.identify(token), token).toBeNull();
    }
  });

  it('size - number of keys; an empty ring identifies nothing', () => {
    expect(ring.size).toBe(2);
    expect(new KeyRing([]).identify(KEY_A)).toBeNull();
  });
});

describe('roleAllows', () => {
  it('roleAllows - read < write < admin', () => {
    const table = ['read', 'write', 'admin'] as const;
    const allowed = table.flatMap((held) =>
      table.filter((needed) => roleAllows(held, needed)).map((n) => `${held}>=${n}`),
    );
    expect(allowed).toEqual([
      'read>=read',
      'write>=read',
      'write>=write',
      'admin>=read',
      'admin>=write',
      'admin>=admin',
    ]);
  });
});
