import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Metrics } from '../observability/metrics.js';

// One log line and one metric per request. The error behind a 5xx rides on that line (noted by the error
// handler), so a failure is logged once, with its cause, at a level that says how bad it is.

const failures = new WeakMap<FastifyRequest, unknown>();

/** Records the error behind a 5xx for the request's log line. */
export function noteFailure(request: FastifyRequest, err: unknown): void {
  failures.set(request, err);
}

// Load balancers and orchestrators ask these every second or so: at info they would drown everything else.
const PROBES = new Set(['/health/live', '/health/ready']);

/** debug for probes, error for a 5xx other than 503, warn for 503 (unavailable or draining), else info. */
function levelOf(route: string, status: number): 'debug' | 'info' | 'warn' | 'error' {
  if (PROBES.has(route)) return 'debug';
  if (status === 503) return 'warn';
  return status >= 500 ? 'error' : 'info';
}

export function registerRequestLog(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.httpDuration.observe(
      { method: request.method, route, status_code: status },
      reply.elapsedTime / 1000,
    );
    const line = {
      method: request.method,
      route,
      status,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      ...(failures.has(request) ? { err: failures.get(request) } : {}),
    };
    const level = levelOf(route, status);
    request.log[level](line, status >= 500 ? 'request failed' : 'request completed');
  });
}
