import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Metrics } from '../observability/metrics.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import { requestIdOf } from './request-id.js';

// Admission control (SPEC §5, RELIABILITY R8): when more work arrives than the service can do, the excess is
// answered 503 + Retry-After at once, instead of waiting in sockets and on the event loop until it times out.
// It sits in front of Fastify, on the HTTP server's request event: a shed request costs Node's header parsing
// and one write of a constant answer (tens of µs, most of it the write), never a Fastify request, hooks, a log
// line or a body parse. Shedding that cost as much as serving (≈ 0.2 ms through Fastify's hooks) would itself
// eat the core at 5× overload, leaving the admitted requests to starve. Two limits, each 0 = off:
// - requests in flight (admitted and not yet answered): by Little's law it bounds the queueing delay of the
//   admitted ones to limit ÷ throughput;
// - event-loop delay: when the loop is already late, a new request would only make everyone later.
// Health probes and the metrics scrape are never shed: an overloaded instance is still alive and ready, and
// an operator must be able to see the overload.

export interface AdmissionLimits {
  maxInFlight: number;
  maxEventLoopDelayMs: number;
}

export interface Admission {
  /** `next` behind the limits: the HTTP server's request listener. */
  guard(next: RequestListener): RequestListener;
  stop(): void;
}

const NEVER_SHED = new Set(['/health', '/health/live', '/health/ready', '/metrics']);
/** How often the event loop's lateness is sampled. */
const SAMPLE_MS = 20;
const RETRY_AFTER_S = '1';
const PROBLEM = {
  type: 'urn:engram:problem:service-overloaded',
  title: 'Service Unavailable',
  status: 503,
  detail: 'The service is overloaded; retry later',
  code: 'SERVICE_OVERLOADED',
};

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

function pathOf(url: string | undefined): string {
  const path = url ?? '';
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** The service's problem+json for a shed request, without Fastify (see the top of this module). */
function answerOverloaded(req: IncomingMessage, res: ServerResponse): void {
  const requestId = requestIdOf(req.headers['x-request-id']);
  const body = JSON.stringify({
    ...PROBLEM,
    instance: req.url,
    code: 'SERVICE_OVERLOADED',
    request_id: requestId,
  });
  // The body is never read: Node discards it once the answer is sent, and the connection stays open.
  res.writeHead(503, {
    'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
    'content-length': Buffer.byteLength(body),
    'retry-after': RETRY_AFTER_S,
    'x-request-id': requestId,
  });
  res.end(body);
}

export function createAdmission(limits: AdmissionLimits, metrics: Metrics): Admission {
  const { maxInFlight, maxEventLoopDelayMs } = limits;
  const loop = maxEventLoopDelayMs > 0 ? sampleLoopDelay() : undefined;
  let inFlight = 0;
  const leave = () => {
    inFlight--;
    metrics.inFlight.dec();
  };
  return {
    guard(next) {
      if (maxInFlight === 0 && !loop) return next;
      return (req, res) => {
        if (NEVER_SHED.has(pathOf(req.url))) return next(req, res);
        let reason: 'in_flight' | 'event_loop_delay' | undefined;
        if (maxInFlight > 0 && inFlight >= maxInFlight) reason = 'in_flight';
        else if (loop && loop.delayMs > maxEventLoopDelayMs) reason = 'event_loop_delay';
        if (reason) {
          metrics.shed.inc({ reason });
          return answerOverloaded(req, res);
        }
        inFlight++;
        metrics.inFlight.inc();
        // 'close' comes once per response, answered or abandoned by the client.
        res.once('close', leave);
        next(req, res);
      };
    },
    stop: () => loop?.stop(),
  };
}
