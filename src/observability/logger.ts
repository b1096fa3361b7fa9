import { type Logger, pino } from 'pino';
import type { Config } from '../config.js';

/** JSON logs; secrets are redacted wherever they might appear (SPEC §7). */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>): Logger {
  return pino({
    level: config.LOG_LEVEL,
    base: { service: 'engram' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'config.LIBSQL_AUTH_TOKEN',
        'config.ENGRAM_API_KEYS',
        'config.METRICS_TOKEN',
        '*.ENGRAM_API_KEYS',
        '*.METRICS_TOKEN',
        'req.headers["x-api-key"]',
        '*.authToken',
        '*.LIBSQL_AUTH_TOKEN',
      ],
      censor: '[redacted]',
    },
  });
}
