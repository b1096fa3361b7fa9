import { type Config, databaseMode } from '../config.js';
import { ClientDriver } from './client-driver.js';
import { Database, type DatabaseObserver } from './database.js';
import { EmbeddedDriver, filePathOf } from './embedded-driver.js';
import type { DbError } from './errors.js';
import { HranaReader } from './hrana-reader.js';
import { type ReplicaReadOutcome, ReplicaRoutingDriver } from './replica-reads.js';
import type { ReplicationPosition } from './replication-position.js';
import { type ResilienceEvents, ResiliencePolicy } from './resilience.js';
import type { SqlDriver } from './types.js';

/** The driver of LIBSQL_URL; `position` follows a remote server's replication index (consistency tokens). */
export function createDriver(config: Config, position?: ReplicationPosition): SqlDriver {
  const mode = databaseMode(config);
  if (mode === 'embedded') {
    const path = config.LIBSQL_URL === ':memory:' ? ':memory:' : filePathOf(config.LIBSQL_URL);
    return new EmbeddedDriver({
      path,
      busyTimeoutMs: config.LIBSQL_BUSY_TIMEOUT_MS,
      readerThreads: config.LIBSQL_READER_THREADS,
    });
  }
  return new ClientDriver({
    url: config.LIBSQL_URL,
    authToken: config.LIBSQL_AUTH_TOKEN,
    syncUrl: config.LIBSQL_SYNC_URL,
    timeoutMs: config.DB_TIMEOUT_MS,
    position,
  });
}

export function createResiliencePolicy(config: Config, events?: ResilienceEvents): ResiliencePolicy {
  return new ResiliencePolicy(
    {
      poolSize: config.DB_POOL_SIZE,
      queueSize: config.DB_POOL_QUEUE,
      timeoutMs: config.DB_TIMEOUT_MS,
      retry: {
        maxAttempts: config.DB_RETRY_MAX_ATTEMPTS,
        initialBackoffMs: config.DB_RETRY_INITIAL_BACKOFF_MS,
        maxBackoffMs: config.DB_RETRY_MAX_BACKOFF_MS,
        multiplier: config.DB_RETRY_MULTIPLIER,
      },
      breaker: {
        failureThreshold: config.DB_BREAKER_FAILURE_THRESHOLD,
        successThreshold: config.DB_BREAKER_SUCCESS_THRESHOLD,
        openMs: config.DB_BREAKER_TIMEOUT_MS,
        initialOpenMs: config.DB_BREAKER_INITIAL_TIMEOUT_MS,
        halfOpenMaxCalls: config.DB_BREAKER_HALF_OPEN_MAX_CALLS,
      },
    },
    events,
  );
}

export interface DatabaseHooks {
  events?: ResilienceEvents;
  observer?: DatabaseObserver;
  /** Replaces the driver of LIBSQL_URL (tests). */
  driver?: SqlDriver;
  position?: ReplicationPosition;
  onReplicaRead?: (outcome: ReplicaReadOutcome, err?: DbError) => void;
}

export function createDatabase(config: Config, hooks: DatabaseHooks = {}): Database {
  const primary = hooks.driver ?? createDriver(config, hooks.position);
  const driver = config.LIBSQL_READ_URL
    ? new ReplicaRoutingDriver(
        primary,
        new HranaReader({ url: config.LIBSQL_READ_URL, authToken: config.LIBSQL_AUTH_TOKEN }),
        createReplicaPolicy(config),
        hooks.onReplicaRead,
      )
    : primary;
  return new Database(driver, createResiliencePolicy(config, hooks.events), {
    writeBatchMax: config.DB_WRITE_BATCH_MAX,
    // Group commit keeps writes waiting in its own queue: as many as the pool could run plus its waiting room.
    writeQueueMax: config.DB_POOL_SIZE + config.DB_POOL_QUEUE,
    backgroundTimeoutMs: config.DB_TIMEOUT_MS,
    observer: hooks.observer,
  });
}

/**
 * The read replica's own policy, so that its failures never open the primary's breaker. Its deadline is
 * LIBSQL_READ_WAIT_MS and it does not retry: the fallback for a failed replica read is the primary.
 */
function createReplicaPolicy(config: Config): ResiliencePolicy {
  return createResiliencePolicy({
    ...config,
    DB_TIMEOUT_MS: config.LIBSQL_READ_WAIT_MS,
    DB_RETRY_MAX_ATTEMPTS: 1,
  });
}
