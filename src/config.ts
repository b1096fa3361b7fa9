import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { diskAnnOptionsOf } from './domain/embedding.js';

// The only reader of process.env. Every variable has a default or a clear error naming it.

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.stringbool();
// `true`, `false`, or the hosts a private network may reach in plain text (the compose file names its sqlds).
const INSECURE_HOSTS = /^(?:true|false|[A-Za-z0-9.-]+(?:,[A-Za-z0-9.-]+)*)$/;

export const ConfigSchema = z.object({
  HTTP_HOST: z.string().min(1).default('127.0.0.1').describe('listen address'),
  HTTP_PORT: int(0, 65_535).default(8080).describe('listen port'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level'),
  HTTP_BODY_LIMIT_BYTES: int(1024, 1024 * 1024 * 1024)
    .default(11 * 1024 * 1024)
    .describe('largest accepted request body'),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000).describe('hard deadline for a graceful shutdown'),
  SHUTDOWN_DRAIN_MS: int(0, 600_000)
    .default(0)
    .describe('on SIGTERM, time between readiness turning 503 and the listener closing'),

  ADMISSION_MAX_IN_FLIGHT: int(0, 1_000_000)
    .default(64)
    .describe(
      'requests in flight beyond which new ones are answered 503 before their body is read (0 = off)',
    ),
  ADMISSION_MAX_EVENT_LOOP_DELAY_MS: int(0, 60_000)
    .default(0)
    .describe(
      'event-loop delay beyond which new requests are answered 503 before their body is read (0 = off)',
    ),

  LIBSQL_URL: z
    .string()
    .min(1)
    .default('file:./data/engram.db')
    .describe('database URL (file:, libsql:, https:, wss:)'),
  LIBSQL_AUTH_TOKEN: z.string().min(1).optional().describe('token for a remote database (never logged)'),
  LIBSQL_SYNC_URL: z
    .string()
    .min(1)
    .optional()
    .describe('primary to replicate from: makes LIBSQL_URL an embedded replica'),
  LIBSQL_SYNC_INTERVAL_S: int(1, 86_400).default(60).describe('embedded replica: seconds between syncs'),
  LIBSQL_READ_URL: z
    .string()
    .min(1)
    .optional()
    .describe('a sqld read replica of LIBSQL_URL: GET requests read from it'),
  LIBSQL_READ_WAIT_MS: int(1, 60_000)
    .default(1_000)
    .describe(
      'longest a read waits for the read replica (to answer, or to catch up with a consistency token) before reading from LIBSQL_URL',
    ),
  LIBSQL_ALLOW_INSECURE: z
    .string()
    .regex(INSECURE_HOSTS, 'must be true, false, or host names separated by commas (e.g. sqld,sqld-replica)')
    .default('false')
    .describe(
      'allow plain http:/ws: and no token to a non-loopback server: `true` for any, or only the hosts listed (comma-separated)',
    ),
  LIBSQL_BUSY_TIMEOUT_MS: int(0, 60_000)
    .default(50)
    .describe('embedded file: SQLite busy timeout (blocks the event loop; keep small, BUSY is retried)'),
  LIBSQL_READER_THREADS: int(0, 64)
    .default(2)
    .describe(
      'embedded file: threads for long reads (lists, steps, similarity searches); 0 runs them on the event loop',
    ),

  DB_POOL_SIZE: int(1, 1_000).default(10).describe('concurrent database operations'),
  DB_POOL_QUEUE: int(0, 100_000).default(1_000).describe('operations waiting for the pool before 503'),
  DB_TIMEOUT_MS: int(1, 600_000).default(5_000).describe('deadline of one database operation'),
  DB_RETRY_MAX_ATTEMPTS: int(1, 20).default(3).describe('calls per operation, first one included'),
  DB_RETRY_INITIAL_BACKOFF_MS: int(0, 60_000).default(100).describe('first retry delay'),
  DB_RETRY_MAX_BACKOFF_MS: int(0, 600_000).default(5_000).describe('largest retry delay'),
  DB_RETRY_MULTIPLIER: z.coerce.number().min(1).max(10).default(2).describe('backoff growth factor'),
  DB_BREAKER_FAILURE_THRESHOLD: int(1, 1_000)
    .default(5)
    .describe('consecutive failures that open the breaker'),
  DB_BREAKER_SUCCESS_THRESHOLD: int(1, 1_000)
    .default(2)
    .describe('half-open successes that close the breaker'),
  DB_BREAKER_INITIAL_TIMEOUT_MS: int(1, 3_600_000)
    .default(1_000)
    .describe('first time open before half-open; doubles after each failed probe'),
  DB_BREAKER_TIMEOUT_MS: int(1, 3_600_000).default(60_000).describe('longest time open before half-open'),
  DB_BREAKER_HALF_OPEN_MAX_CALLS: int(1, 1_000).default(3).describe('concurrent calls let through half-open'),
  DB_WRITE_BATCH_MAX: int(1, 10_000)
    .default(256)
    .describe('embedded file: most write requests coalesced into one transaction (group commit)'),

  EMBEDDING_INDEX_OPTIONS: z
    .string()
    .default('compress_neighbors=float8,max_neighbors=64,search_l=100,insert_l=40')
    .superRefine((text, ctx) => {
      const parsed = diskAnnOptionsOf(text);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    })
    .describe(
      "DiskANN options of a new model's index (comma-separated k=v: compress_neighbors, max_neighbors, search_l, insert_l)",
    ),
  EMBEDDING_INDEX_BATCH_MS: int(1, 60_000)
    .default(250)
    .describe(
      'how long one transaction of the background indexer aims to hold the writer (its vector count adapts)',
    ),
  EMBEDDING_EXACT_SCAN_MAX: int(0, 10_000_000)
    .default(5_000)
    .describe('similarity search scans the matching vectors exactly when there are at most this many'),
  EMBEDDING_CACHE_MB: int(0, 4_000)
    .default(256)
    .describe(
      'memory for the vectors exact similarity searches score (~1.7 KB per 384-d vector); 0 scores them in SQL',
    ),
  EMBEDDING_INDEX_OVERFETCH: int(1, 100)
    .default(10)
    .describe('index candidates per result wanted (re-ranked exactly under the search conditions)'),

  ENGRAM_API_KEYS: z
    .string()
    .min(1)
    .optional()
    .describe('API keys: comma-separated `key:tenant:role` entries, role `read|write|admin` (never logged)'),
  ENGRAM_API_KEYS_FILE: z
    .string()
    .min(1)
    .optional()
    .describe('file of API keys, one `key:tenant:role` per line (`#` comments; key may be `sha256:<hex>`)'),
  ENGRAM_ALLOW_ANONYMOUS: bool
    .default(false)
    .describe('allow running without API keys on a non-loopback HTTP_HOST (everyone is tenant `default`)'),
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000)
    .default(0)
    .describe('requests per minute per API key on /v1 (0 = off); 429 with Retry-After beyond it'),
  METRICS_TOKEN: z
    .string()
    .min(16)
    .optional()
    .describe('bearer token that GET /metrics requires (unset: /metrics is open)'),
});

export type Config = z.infer<typeof ConfigSchema>;
export type DatabaseMode = 'embedded' | 'remote' | 'embedded_replica';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOOPBACK = new Set(['localhost', '::1', '[::1]']);
const isLoopback = (host: string) => LOOPBACK.has(host) || (isIPv4(host) && host.startsWith('127.'));

/** Parses the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(
    Object.keys(ConfigSchema.shape).flatMap((k) =>
      env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]],
    ),
  );
  const parsed = ConfigSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const config = parsed.data;
  checkDatabaseUrls(config);
  checkAnonymousAccess(config);
  return config;
}

/** Whether any API keys are configured (a key file must hold at least one: see loadApiKeys). */
export const hasApiKeys = (config: Config): boolean =>
  config.ENGRAM_API_KEYS !== undefined || config.ENGRAM_API_KEYS_FILE !== undefined;

// SPEC §6: without keys everyone is the tenant `default`; that is only safe on loopback unless the operator says so.
function checkAnonymousAccess(config: Config): void {
  if (hasApiKeys(config) || isLoopback(config.HTTP_HOST) || config.ENGRAM_ALLOW_ANONYMOUS) return;
  throw new ConfigError(
    `ENGRAM_API_KEYS: required to listen on ${config.HTTP_HOST} (not loopback); set ENGRAM_API_KEYS or ENGRAM_API_KEYS_FILE, or ENGRAM_ALLOW_ANONYMOUS=true to serve everyone as the tenant "default"`,
  );
}

export function databaseMode(config: Config): DatabaseMode {
  if (config.LIBSQL_SYNC_URL) return 'embedded_replica';
  return config.LIBSQL_URL.startsWith('file:') || config.LIBSQL_URL === ':memory:' ? 'embedded' : 'remote';
}

// SPEC §5: remote URLs use TLS and a token, unless the server is on loopback or the operator opted out.
function checkDatabaseUrls(config: Config): void {
  const mode = databaseMode(config);
  if (mode === 'embedded_replica' && !config.LIBSQL_URL.startsWith('file:')) {
    throw new ConfigError('LIBSQL_URL: an embedded replica (LIBSQL_SYNC_URL set) needs a file: URL');
  }
  if (config.LIBSQL_READ_URL && mode !== 'remote') {
    throw new ConfigError(
      'LIBSQL_READ_URL: a read replica needs a remote LIBSQL_URL (sqld) and no LIBSQL_SYNC_URL',
    );
  }
  if (mode === 'embedded') return;
  checkRemoteUrl(config, mode === 'remote' ? 'LIBSQL_URL' : 'LIBSQL_SYNC_URL');
  if (config.LIBSQL_READ_URL) checkRemoteUrl(config, 'LIBSQL_READ_URL');
}

function checkRemoteUrl(config: Config, name: 'LIBSQL_URL' | 'LIBSQL_SYNC_URL' | 'LIBSQL_READ_URL'): void {
  const raw = config[name] as string;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name}: not a valid URL`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (!['libsql', 'https', 'wss', 'http', 'ws'].includes(scheme)) {
    throw new ConfigError(`${name}: unsupported scheme "${scheme}:" (use file:, libsql:, https: or wss:)`);
  }
  const plain = scheme === 'http' || scheme === 'ws' || url.searchParams.get('tls') === '0';
  const trusted = isLoopback(url.hostname) || insecureAllowed(config, url.hostname);
  if (plain && !trusted) {
    throw new ConfigError(
      `${name}: plain ${scheme}:// to ${url.hostname} is refused; use TLS (libsql:, https:, wss:) or, on a private network, list the host in LIBSQL_ALLOW_INSECURE`,
    );
  }
  if (!config.LIBSQL_AUTH_TOKEN && !trusted) {
    throw new ConfigError(`LIBSQL_AUTH_TOKEN: required for the remote database ${url.hostname}`);
  }
}

/** Whether LIBSQL_ALLOW_INSECURE lets `host` be reached in plain text and without a token. */
export function insecureAllowed(config: Pick<Config, 'LIBSQL_ALLOW_INSECURE'>, host: string): boolean {
  const allowed = config.LIBSQL_ALLOW_INSECURE;
  if (allowed === 'true' || allowed === 'false') return allowed === 'true';
  return allowed.toLowerCase().split(',').includes(host.toLowerCase());
}

/** Seconds since expiry of a JWT token, or null when it has no readable `exp` or has not expired. */
export function tokenExpiredFor(token: string | undefined, now = Date.now()): number | null {
  const payload = token?.split('.')[1];
  if (!payload) return null;
  try {
    const { exp } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    if (typeof exp !== 'number') return null;
    const overdue = Math.floor(now / 1000 - exp);
    return overdue >= 0 ? overdue : null;
  } catch {
    return null;
  }
}
