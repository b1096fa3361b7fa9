import { createServer } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import pkg from '../package.json' with { type: 'json' };
import { healthRoutes } from '../routes/health.js';
import { metricsRoutes } from '../routes/metrics.js';
import { embeddingResource } from '../routes/v1/embeddings.js';
import { episodeResource } from '../routes/v1/episodes.js';
import { heuristicResource, patternResource } from '../routes/v1/patterns.js';
import { spatiotemporalResource } from '../routes/v1/spatiotemporal.js';
import { statsResource } from '../routes/v1/stats.js';
import { stepResource } from '../routes/v1/steps.js';
import type { Config } from './config.js';
import { createDatabase } from './db/create-database.js';
import type { Database } from './db/database.js';
import { ReplicationPosition } from './db/replication-position.js';
import type { SqlDriver } from './db/types.js';
import { type DiskAnnOptions, diskAnnOptionsOf } from './domain/embedding.js';
import { createAdmission } from './http/admission.js';
import { KeyRing, loadApiKeys } from './http/api-keys.js';
import { BEARER_SCHEME, documentSecurity, registerAuth } from './http/auth.js';
import { registerConsistencyToken } from './http/consistency-token.js';
import { registerJsonBodyParser } from './http/json-body.js';
import {
  clientErrorHandler,
  frameworkErrorHandler,
  registerProblemHandlers,
  sendProblem,
} from './http/problem.js';
import { registerRateLimit } from './http/rate-limit.js';
import { registerRequestChecks } from './http/request-checks.js';
import { requestIdOf } from './http/request-id.js';
import { registerRequestLog } from './http/request-log.js';
import { openApiTags, type Resource, registerResources } from './http/resources.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { createLogger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { RecordCounts } from './observability/record-counts.js';
import { ClaimedWrites } from './services/common/writes.js';
import { EmbeddingService } from './services/embedding-service.js';
import { EpisodeService } from './services/episode-service.js';
import { HealthService } from './services/health-service.js';
import { HeuristicService } from './services/heuristic-service.js';
import { PatternService } from './services/pattern-service.js';
import { RetrievalCounter } from './services/retrieval-counter.js';
import { SpatiotemporalService } from './services/spatiotemporal-service.js';
import { StatsService } from './services/stats-service.js';
import { StepService } from './services/step-service.js';
import { EmbeddingIndexer } from './storage/libsql/embedding-index.js';
import { LibsqlEmbeddingRepository } from './storage/libsql/embedding-repository.js';
import { LibsqlEpisodeRepository } from './storage/libsql/episode-repository.js';
import { LibsqlHeuristicRepository } from './storage/libsql/heuristic-repository.js';
import { LibsqlPatternRepository } from './storage/libsql/pattern-repository.js';
import { LibsqlSpatiotemporalRepository } from './storage/libsql/spatiotemporal-repository.js';
import { LibsqlStatsRepository } from './storage/libsql/stats-repository.js';
import { LibsqlStepRepository } from './storage/libsql/step-repository.js';
import { LibsqlWriteClaimRepository } from './storage/libsql/write-claims.js';
import { type SchemaStartup, startSchema } from './storage/schema-startup.js';

export const VERSION: string = pkg.version;
// Longer than a load balancer's idle timeout (60 s on the common ones), so the balancer, not us, closes an
// idle keep-alive connection and never sends on one we are closing (Fastify's default, kept).
const KEEP_ALIVE_TIMEOUT_MS = 72_000;
const REQUEST_TIMEOUT_MS = 120_000;

export interface AppOverrides {
  /** Replaces the libSQL driver (tests inject failures through it). */
  driver?: SqlDriver;
  logger?: Logger;
}

export interface Engram {
  db: Database;
  health: HealthService;
  metrics: Metrics;
  recordCounts: RecordCounts;
  /** Pattern retrieval counts waiting for their batched write. */
  retrievals: RetrievalCounter;
}

/** How often expired write claims are deleted, and row counts for the metrics refreshed. */
const PRUNE_INTERVAL_MS = 60_000;
const RECORD_COUNT_INTERVAL_MS = 30_000;
/** How often pattern retrieval counts are written: what a crash may cost of them. */
const RETRIEVAL_FLUSH_INTERVAL_MS = 5_000;
/** How often the indexer looks for vectors it was not told about (other instances, a migration). */
const INDEX_INTERVAL_MS = 1_000;

declare module 'fastify' {
  interface FastifyInstance {
    engram: Engram;
  }
}

/** Composition root: config → db (+ policy) → migrations → repositories → services → routes. */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<FastifyInstance> {
  const keyring = new KeyRing(loadApiKeys(config)); // a bad key file stops us before the database is touched
  const logger = overrides.logger ?? createLogger(config);
  const metrics = createMetrics({ version: VERSION });
  const position = new ReplicationPosition();
  const db = createDatabase(config, {
    driver: overrides.driver,
    position,
    onReplicaRead: (outcome, err) => {
      metrics.replicaReads.inc({ outcome });
      if (err)
        logger.debug(
          { kind: err.kind, detail: err.detail },
          'read replica did not answer; read from the primary',
        );
    },
    events: {
      onRetry: () => metrics.dbRetries.inc(),
      onBreak: () => metrics.circuitBreaks.inc(),
      onError: (err) => metrics.dbErrors.inc({ kind: err.kind }),
    },
    observer: {
      operation: (operation, outcome, s) => metrics.dbOperation.observe({ operation, outcome }, s),
    },
  });
  let syncTimer: NodeJS.Timeout | undefined;
  if (db.mode === 'embedded_replica') {
    syncTimer = setInterval(() => {
      db.sync().catch((err: unknown) => logger.warn({ err }, 'embedded replica sync failed'));
    }, config.LIBSQL_SYNC_INTERVAL_S * 1000);
    syncTimer.unref();
  }
  let schema: SchemaStartup;
  try {
    schema = await startSchema(db, {
      retryMs: 1_000,
      // As long as any database call may take; a longer migration goes on while the instance listens unready.
      waitMs: config.DB_TIMEOUT_MS,
      log: logger,
      ...(db.mode === 'embedded_replica' ? { prepare: () => db.sync() } : {}),
    });
  } catch (err) {
    clearInterval(syncTimer);
    await db.close().catch(() => undefined);
    throw err;
  }

  const health = new HealthService(db, VERSION, () => schema.ready);
  const claims = new LibsqlWriteClaimRepository(db);
  // Claims expire (client keys after 24 h, internal write ids after 15 min): an expired one is ignored at
  // once and its row deleted here, in bounded batches.
  const pruneTimer = setInterval(() => {
    claims.prune().catch((err: unknown) => logger.warn({ err }, 'pruning expired write claims failed'));
  }, PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  const recordCounts = new RecordCounts(db, metrics, logger);
  recordCounts.start(RECORD_COUNT_INTERVAL_MS);

  // Vectors are indexed behind their writes (see embedding-index.ts); a tick also picks up vectors that
  // other instances or a migration stored.
  const indexDefaults = diskAnnOptionsOf(config.EMBEDDING_INDEX_OPTIONS) as DiskAnnOptions; // checked by loadConfig
  const indexer = new EmbeddingIndexer(db, {
    defaults: indexDefaults,
    batchMs: config.EMBEDDING_INDEX_BATCH_MS,
    onError: (err) => logger.warn({ err }, 'indexing vectors failed; retried on the next tick'),
  });
  indexer.start(INDEX_INTERVAL_MS);

  const writes = new ClaimedWrites(claims);
  const episodeRepository = new LibsqlEpisodeRepository(db);
  const embeddingRepository = new LibsqlEmbeddingRepository(db, indexer, {
    exactScanMax: config.EMBEDDING_EXACT_SCAN_MAX,
    overfetch: config.EMBEDDING_INDEX_OVERFETCH,
    defaults: indexDefaults,
    cacheBytes: config.EMBEDDING_CACHE_MB * 2 ** 20,
  });
  const patternRepository = new LibsqlPatternRepository(db);
  const retrievals = new RetrievalCounter(patternRepository, writes, logger, RETRIEVAL_FLUSH_INTERVAL_MS);
  retrievals.start();
  const learned = {
    patterns: new PatternService(patternRepository, writes, retrievals),
    heuristics: new HeuristicService(new LibsqlHeuristicRepository(db), writes),
    retrievals,
  };
  const resources: Resource[] = [
    episodeResource(new EpisodeService(episodeRepository, writes)),
    stepResource(new StepService(new LibsqlStepRepository(db), episodeRepository, writes)),
    patternResource(learned),
    heuristicResource(learned),
    statsResource(new StatsService(new LibsqlStatsRepository(db))),
    spatiotemporalResource(new SpatiotemporalService(new LibsqlSpatiotemporalRepository(db))),
    embeddingResource(new EmbeddingService(embeddingRepository, writes)),
  ];

  // Admission control answers shed requests on the server's request event, before Fastify (see admission.ts).
  const admission = createAdmission(
    {
      maxInFlight: config.ADMISSION_MAX_IN_FLIGHT,
      maxEventLoopDelayMs: config.ADMISSION_MAX_EVENT_LOOP_DELAY_MS,
    },
    metrics,
  );
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    bodyLimit: config.HTTP_BODY_LIMIT_BYTES,
    serverFactory: (handler) => {
      // A missing Host is answered by our own hook below, as problem+json, instead of Node's empty 400.
      const server = createServer(
        { requireHostHeader: false, requestTimeout: REQUEST_TIMEOUT_MS },
        admission.guard(handler),
      );
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
    return503OnClosing: false, // answered as problem+json by the onRequest hook below
    forceCloseConnections: 'idle',
    // Errors met before a route runs are problem+json too (SPEC §2).
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  app.decorate('engram', { db, health, metrics, recordCounts, retrievals });
  app.setValidatorCompiler(validatorCompiler);
  // Responses are plain JSON.stringify: records are built field by field from whitelisted columns, so there
  // is nothing to strip, and the zod encoder would cost ≈15 µs per episode. The response schemas document the
  // API and type the handlers; contract tests check real responses against them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  registerProblemHandlers(app, { retryAfterSeconds: () => db.policy.retryAfterSeconds() });
  registerRequestLog(app, metrics);
  registerRequestChecks(app);
  registerJsonBodyParser(app);

  let closing = false;
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    return sendProblem(
      request,
      reply,
      503,
      'SHUTTING_DOWN',
      'The service is shutting down; retry on another instance',
      {
        retryAfter: 1,
      },
    );
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  registerSecurityHeaders(app);
  registerAuth(app, keyring);
  if (config.RATE_LIMIT_PER_MINUTE > 0) await registerRateLimit(app, config.RATE_LIMIT_PER_MINUTE);
  app.addHook('preClose', async () => {
    closing = true;
    health.beginShutdown();
  });
  app.addHook('onClose', async () => {
    admission.stop();
    schema.stop();
    clearInterval(syncTimer);
    clearInterval(pruneTimer);
    await recordCounts.stop();
    await indexer.stop();
    await retrievals.stop();
    await db.close();
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Engram',
        version: VERSION,
        description:
          'Storage service for the episodic memory of AI agents: episodes, steps, patterns, embeddings.',
      },
      tags: openApiTags(resources),
      components: { securitySchemes: BEARER_SCHEME },
    },
    transform: documentSecurity(jsonSchemaTransform),
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // Its own policy for its pages (the API's lets nothing load), minus the upgrade to https, which would
    // break the UI on a plain-http loopback address.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;/, ''),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { health });
  await app.register(metricsRoutes, { metrics, db, token: config.METRICS_TOKEN });
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request, reply) => {
        if (schema.ready) return;
        const detail = 'The database has not answered since this instance started; retry later';
        return sendProblem(request, reply, 503, 'DATABASE_UNAVAILABLE', detail, { retryAfter: 1 });
      });
      registerConsistencyToken(v1, position);
      await registerResources(v1, resources, '');
    },
    { prefix: '/v1' },
  );
  return app;
}
