import { RawHttpClient } from './raw-http-client.js';

// The load generator of the reliability tier, run in its own process (`node --import tsx generator.ts
// '<spec json>'`) so that its work does not share the service's event loop. Phases run back to back:
// `{ rate, seconds }` is OPEN loop (arrivals on a clock, whether or not earlier ones were answered; a
// request's latency counts from its scheduled arrival, so client-side queueing is not hidden), and
// `{ connections, seconds }` is closed loop (each connection sends its next request when answered).
// It prints one JSON line: every request as [phase, scheduled ms since start, latency ms, status, kind,
// Retry-After present 1/0, ms the generator itself sent it late] (status 0: no answer within
// ANSWER_TIMEOUT_MS or a broken connection), and the generator's own CPU use in cores.

export type Phase = { rate: number; seconds: number } | { connections: number; seconds: number };
export type Kind = 'create' | 'append' | 'get' | 'list' | 'search';
export interface GeneratorSpec {
  url: string;
  authorization: string;
  phases: Phase[];
  /** `create`: episode creates only; `mix`: creates, step appends, gets, lists, full-text searches. */
  workload: 'create' | 'mix';
}
export type Sample = [
  phase: number,
  scheduledMs: number,
  latencyMs: number,
  status: number,
  kind: Kind,
  retryAfter: 0 | 1,
  lateMs: number,
];

const ANSWER_TIMEOUT_MS = 10_000;
const KINDS: readonly Kind[] = [
  'create',
  'create',
  'append',
  'append',
  'get',
  'get',
  'get',
  'list',
  'search',
  'list',
];

const spec = JSON.parse(process.argv[2] ?? '{}') as GeneratorSpec;
const target = new URL(spec.url);
// Keep-alive, as real clients, and as many connections as a fleet of agents would hold. Unbounded, an
// overloaded moment turned every late answer into a new connection: thousands of connects in a second,
// which Node accepts only about once per event-loop turn, so they waited seconds in the kernel's accept
// queue, where admission control cannot see them.
const MAX_CONNECTIONS = 256;
const client = new RawHttpClient(target.hostname, Number(target.port), MAX_CONNECTIONS);
const samples: Sample[] = [];
const episodes: string[] = [];
let n = 0;

function episodeBody(): string {
  n++;
  return JSON.stringify({
    task_type: 'testing',
    task_description: `reliability load ${n} ${n % 7 === 0 ? 'needle' : 'hay'}`,
    context: { domain: `rel-${n % 10}` },
    tags: ['reliability'],
    steps: [
      { tool: 'bash', action: 'look' },
      { tool: 'bash', action: 'act' },
    ],
  });
}

function pick(): string | undefined {
  return episodes.length === 0 ? undefined : episodes[Math.floor(Math.random() * episodes.length)];
}

/** The request for `kind` (a write falls back to a create until an episode exists to act on). */
function requestOf(kind: Kind): { kind: Kind; method: string; path: string; body?: string } {
  const id = pick();
  if (kind === 'append' && id)
    return {
      kind,
      method: 'POST',
      path: `/v1/episodes/${id}/steps`,
      body: '{"steps":[{"tool":"t","action":"more"}]}',
    };
  if (kind === 'get' && id) return { kind, method: 'GET', path: `/v1/episodes/${id}` };
  if (kind === 'list') return { kind, method: 'GET', path: '/v1/episodes?limit=20' };
  if (kind === 'search') return { kind, method: 'GET', path: '/v1/episodes?q=needle&limit=20' };
  return { kind: 'create', method: 'POST', path: '/v1/episodes', body: episodeBody() };
}

function send(phase: number, scheduledMs: number, started: number): Promise<void> {
  const kind =
    spec.workload === 'create' ? 'create' : (KINDS[Math.floor(Math.random() * KINDS.length)] as Kind);
  const r = requestOf(kind);
  const lateMs = Math.round(performance.now() - started - scheduledMs);
  const headers: Record<string, string> = { authorization: spec.authorization };
  if (r.body) headers['content-type'] = 'application/json';
  const finish = (status: number, retryAfter: 0 | 1 = 0) => {
    const latency = performance.now() - started - scheduledMs;
    samples.push([phase, Math.round(scheduledMs), latency, status, r.kind, retryAfter, lateMs]);
  };
  return client.request(r.method, r.path, headers, r.body, ANSWER_TIMEOUT_MS).then(
    (res) => {
      if (res.status === 201 && r.kind === 'create') {
        const id = (JSON.parse(res.body) as { id?: string }).id;
        if (id) episodes.push(id);
      }
      finish(res.status, res.headers.has('retry-after') ? 1 : 0);
    },
    () => finish(0),
  );
}

async function openLoop(
  phase: number,
  rate: number,
  seconds: number,
  started: number,
): Promise<Promise<void>[]> {
  const pending: Promise<void>[] = [];
  const phaseStart = performance.now() - started;
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const elapsed = performance.now() - started - phaseStart;
    const due = Math.min(total, Math.floor((elapsed / 1000) * rate) + 1);
    for (; sent < due; sent++) pending.push(send(phase, phaseStart + (sent / rate) * 1000, started));
    await new Promise((r) => setTimeout(r, 1));
  }
  return pending;
}

async function closedLoop(
  phase: number,
  connections: number,
  seconds: number,
  started: number,
): Promise<void> {
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) await send(phase, performance.now() - started, started);
    }),
  );
}

const started = performance.now();
const cpuStart = process.cpuUsage();
const outstanding: Promise<void>[] = [];
for (const [i, phase] of spec.phases.entries()) {
  if ('rate' in phase) outstanding.push(...(await openLoop(i, phase.rate, phase.seconds, started)));
  else await closedLoop(i, phase.connections, phase.seconds, started);
}
await Promise.all(outstanding);
client.close();
const cpu = process.cpuUsage(cpuStart);
const cores = (cpu.user + cpu.system) / 1000 / (performance.now() - started);
process.stdout.write(`${JSON.stringify({ samples, cores })}\n`);
