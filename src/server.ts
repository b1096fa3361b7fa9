import { buildApp } from './app.js';
import { ConfigError, databaseMode, hasApiKeys, loadConfig, tokenExpiredFor } from './config.js';
import { createLogger } from './observability/logger.js';

// Entry point: config → app → listen → graceful close on SIGTERM/SIGINT.

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`engram: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(1);
}

const logger = createLogger(config);
const expiredFor = tokenExpiredFor(config.LIBSQL_AUTH_TOKEN);
if (expiredFor !== null) logger.error({ expired_s_ago: expiredFor }, 'LIBSQL_AUTH_TOKEN has expired');

// Connections the kernel completes before we accept them. Node's default (511) overflows when hundreds of
// clients connect at once during an overload burst, and an overflowed SYN is retried by the client only
// after 1 s, then 3 s: latency admission control cannot shed. Accepting is cheap, so queue them instead (the
// kernel caps this at net.core.somaxconn).
const LISTEN_BACKLOG = 4096;

let app: Awaited<ReturnType<typeof buildApp>>;
try {
  app = await buildApp(config, { logger });
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT, backlog: LISTEN_BACKLOG });
} catch (err) {
  // A bad API key file is a configuration error too: say which line, as for the environment.
  if (err instanceof ConfigError) process.stderr.write(`engram: ${err.message}\n`);
  else logger.fatal({ err }, 'engram failed to start');
  process.exit(1);
}
logger.info({ mode: databaseMode(config), host: config.HTTP_HOST, port: config.HTTP_PORT }, 'engram started');
if (!hasApiKeys(config)) {
  logger.warn(
    { host: config.HTTP_HOST, anonymous_allowed: config.ENGRAM_ALLOW_ANONYMOUS },
    'NO API KEYS CONFIGURED: /v1 is open to anyone who can reach this address, as the tenant "default" with every role; set ENGRAM_API_KEYS or ENGRAM_API_KEYS_FILE',
  );
}

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  logger.info({ signal }, 'shutting down: readiness now 503, finishing in-flight requests');
  const deadline = setTimeout(() => {
    logger.error({ grace_ms: config.SHUTDOWN_GRACE_MS }, 'graceful shutdown timed out');
    process.exit(1);
  }, config.SHUTDOWN_GRACE_MS);
  deadline.unref();
  app.engram.health.beginShutdown();
  if (config.SHUTDOWN_DRAIN_MS > 0) await new Promise((r) => setTimeout(r, config.SHUTDOWN_DRAIN_MS));
  try {
    await app.close(); // stops accepting, waits for in-flight requests, flushes writes, closes the database
    logger.info('shutdown complete');
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
