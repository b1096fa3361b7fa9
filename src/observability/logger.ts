import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import type { Config } from '../config.js';

/** JSON logs (to stdout unless `destination` is given); secrets are redacted wherever they might appear (SPEC §7). */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { service: 'engram' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        '*.headers.authorization',
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
  };
  return destination ? pino(options, destination) : pino(options);
}
