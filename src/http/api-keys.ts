import { hash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Config, ConfigError } from '../config.js';

// API keys (SPEC §6): each maps to a tenant and a role. Only SHA-256 digests are kept; a presented token is
// hashed and compared with every digest in constant time. No message here ever quotes a key, or any part of
// an entry: a line written in the wrong order would put the key where the tenant or role should be.

export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** `read` < `write` < `admin`. */
export const roleAllows = (held: Role, needed: Role): boolean => ROLES.indexOf(held) >= ROLES.indexOf(needed);

/** Who a request acts as. `keyId` is stable per key and is not the key (the rate limit counts by it). */
export interface Identity {
  tenant: string;
  role: Role;
  keyId: string;
}

export interface ApiKey {
  digest: Buffer;
  tenant: string;
  role: Role;
  /** Where it was configured, e.g. `ENGRAM_API_KEYS_FILE line 3`, for error messages. */
  source: string;
}

/** RFC 6750 `b64token` characters, so the key travels in `Authorization: Bearer` as it is. */
const KEY = /^[A-Za-z0-9._~+/=-]{16,512}$/;
const DIGEST = /^[0-9a-fA-F]{64}$/;
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const FORMAT = 'expected key:tenant:role or sha256:<64 hex digits>:tenant:role';

export const sha256 = (text: string): Buffer => hash('sha256', text, 'buffer');

/** One `key:tenant:role` or `sha256:<hex>:tenant:role` entry; `source` names it in errors. */
export function parseApiKey(entry: string, source: string): ApiKey {
  const parts = entry.split(':');
  const hashed = parts[0] === 'sha256';
  const [secret, tenant, role] = hashed ? parts.slice(1) : parts;
  if (
    parts.length !== (hashed ? 4 : 3) ||
    secret === undefined ||
    tenant === undefined ||
    role === undefined
  ) {
    throw new ConfigError(`${source}: ${FORMAT}`);
  }
  if (hashed && !DIGEST.test(secret)) throw new ConfigError(`${source}: the digest must be 64 hex digits`);
  if (!hashed && !KEY.test(secret)) {
    throw new ConfigError(`${source}: the key must be 16..512 characters of A-Z a-z 0-9 - . _ ~ + / =`);
  }
  if (!TENANT.test(tenant)) throw new ConfigError(`${source}: the tenant must be 1..64 of A-Z a-z 0-9 . _ -`);
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new ConfigError(`${source}: the role must be read, write or admin`);
  }
  const digest = hashed ? Buffer.from(secret, 'hex') : sha256(secret);
  return { digest, tenant, role: role as Role, source };
}

/**
 * Every key of `ENGRAM_API_KEYS` and `ENGRAM_API_KEYS_FILE` (both may be given). A malformed entry, a key
 * configured twice, an unreadable or empty file: a ConfigError naming the entry or line, never the key.
 */
export function loadApiKeys(
  config: Pick<Config, 'ENGRAM_API_KEYS' | 'ENGRAM_API_KEYS_FILE'>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): ApiKey[] {
  const keys: ApiKey[] = [];
  (config.ENGRAM_API_KEYS ?? '').split(',').forEach((entry, i) => {
    if (entry.trim() !== '') keys.push(parseApiKey(entry.trim(), `ENGRAM_API_KEYS entry ${i + 1}`));
  });
  // Set but empty (`,` or blanks) would mean "keys asked for" and yet run open: refuse it.
  if (config.ENGRAM_API_KEYS !== undefined && keys.length === 0) {
    throw new ConfigError('ENGRAM_API_KEYS: holds no keys');
  }
  const file = config.ENGRAM_API_KEYS_FILE;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new ConfigError(
        `ENGRAM_API_KEYS_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    const before = keys.length;
    text.split(/\r?\n/).forEach((line, i) => {
      const entry = line.trim();
      if (entry !== '' && !entry.startsWith('#'))
        keys.push(parseApiKey(entry, `ENGRAM_API_KEYS_FILE line ${i + 1}`));
    });
    if (keys.length === before) throw new ConfigError(`ENGRAM_API_KEYS_FILE: ${file} holds no keys`);
  }
  const seen = new Map<string, string>();
  for (const key of keys) {
    const hex = key.digest.toString('hex');
    const first = seen.get(hex);
    if (first) throw new ConfigError(`${key.source}: the same key as ${first}`);
    seen.set(hex, key.source);
  }
  return keys;
}

/** The configured keys, as digests; `identify` finds the identity a bearer token stands for. */
export class KeyRing {
  private readonly keys: readonly { digest: Buffer; identity: Identity }[];

  constructor(keys: readonly ApiKey[]) {
    this.keys = keys.map((k) => ({
      digest: k.digest,
      identity: { tenant: k.tenant, role: k.role, keyId: k.digest.toString('hex') },
    }));
  }

  get size(): number {
    return this.keys.length;
  }

  /** Compares the token's digest with every configured digest, without an early exit. */
  identify(token: string): Identity | null {
    const presented = sha256(token);
    let found: Identity | null = null;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, presented)) found = key.identity;
    }
    return found;
  }
}
