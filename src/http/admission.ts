import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../observability/metrics.js';
import { sendProblem } from './problem.js';
import { noteShed } from './request-log.js';

// Admission control (SPEC §5, RELIABILITY R8): when more work arrives than the service can do, the excess is
// answered 503 + Retry-After at once, in the first hook, before its body is read or parsed, instead of
// waiting in sockets and on the event loop until it times out. Two limits, each 0 = off:
// - requests in flight (admitted and not yet answered): by Little's law it bounds the queueing delay of the
//   admitted ones to limit ÷ throughput;
// - event-loop delay: when the loop is already late, a new request would only make everyone later.
// Health probes and the metrics scrape are never shed: an overloaded instance is still alive and ready, and
// an operator must be able to see the overload.

export interface AdmissionLimits {
  maxInFlight: number;
  maxEventLoopDelayMs: number;
}

const NEVER_SHED = new Set(['/health', '/health/live', '/health/ready', '/metrics']);
/** How often the event loop's lateness is sampled. */
const SAMPLE_MS = 20;
const RETRY_AFTER_S = 1;

/** The event loop's lateness, in ms, as seen by the last timer tick (a timer set SAMPLE_MS ago). */
function sampleLoopDelay(): { readonly delayMs: number; stop(): void } {
  const sampler = { delayMs: 0, stop: () => clearInterval(timer) };
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    sampler.delayMs = Math.max(0, now - last - SAMPLE_MS);
    last = now;
  }, SAMPLE_MS);
  timer.unref();
  return sampler;
}

export function registerAdmission(app: FastifyInstance, limits: AdmissionLimits, metrics: Metrics): void {
  const { maxInFlight, maxEventLoopDelayMs } = limits;
  if (maxInFlight === 0 && maxEventLoopDelayMs === 0) return;
  let inFlight = 0;
  const loop = maxEventLoopDelayMs > 0 ? sampleLoopDelay() : undefined;
  if (loop) app.addHook('onClose', async () => loop.stop());

  app.addHook('onRequest', async (request, reply) => {
    if (NEVER_SHED.has(request.routeOptions.url ?? '')) return;
    let reason: 'in_flight' | 'event_loop_delay' | undefined;
    if (maxInFlight > 0 && inFlight >= maxInFlight) reason = 'in_flight';
    else if (loop && loop.delayMs > maxEventLoopDelayMs) reason = 'event_loop_delay';
    if (reason) {
      metrics.shed.inc({ reason });
      noteShed(request);
      // The body is never parsed: Node discards it, and the connection stays open for the next request.
      const detail = 'The service is overloaded; retry later';
      return sendProblem(request, reply, 503, 'SERVICE_OVERLOADED', detail, { retryAfter: RETRY_AFTER_S });
    }
    inFlight++;
    metrics.inFlight.inc();
    // 'close' comes once per response, answered or abandoned by the client.
    reply.raw.once('close', () => {
      inFlight--;
      metrics.inFlight.dec();
    });
  });
}
