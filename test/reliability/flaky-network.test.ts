import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIdentityApp, type IdentityApp } from '../helpers/identities.js';
import { FULL, latencyFigures, printTable, type Row } from './harness.js';
import { type ProxiedSqld, startProxiedSqld } from './proxied-sqld.js';

// Issue 13.2 (RELIABILITY R3/R14): a TCP proxy between Engram and sqld adds latency, stalls, drops every
// connection and cuts answers mid-way, phase after phase, while 32 clients create episodes (client-chosen
// ids) and append auto-numbered steps to a few shared episodes. Deadlines bound every request; a retried
// write is never applied twice (acknowledged ⊆ stored ⊆ acknowledged ∪ outcome unknown; step numbers without
// gaps or duplicates, step_count equal to the steps); during the stall the pool and its queue stay within
// their bounds and the excess is answered 503 at once, so waiting work does not grow with the load.

const CLIENTS = 32;
const PACE_MS = 50;
const SHARED_EPISODES = 4;
const TIMEOUT_MS = 1_000;
const ATTEMPTS = 3;
const MAX_BACKOFF_MS = 50;
const POOL = 10;
const QUEUE = 16;
const PHASE_MS = FULL ? 6_000 : 2_000;
/** A request may take each attempt's deadline plus backoff, twice (a write, then the recall of its claim). */
const REQUEST_BOUND_MS = 2 * ATTEMPTS * (TIMEOUT_MS + MAX_BACKOFF_MS) + 500;

type Phase = 'clean' | 'latency 30 ms' | 'stall 1.5 s' | 'drops' | 'answers cut 10 %' | 'clean again';

let sqld: ProxiedSqld | undefined;
let ids: IdentityApp | undefined;
afterAll(async () => {
  await ids?.close();
  await sqld?.close();
});

describe('slow and flaky network between Engram and sqld', () => {
  it('latency, stall, drops, cut answers - deadlines hold, nothing applied twice, pool queue bounded', async () => {
    sqld = await startProxiedSqld();
    const { proxy } = sqld;
    ids = await buildIdentityApp({
      LIBSQL_URL: sqld.url,
      DB_TIMEOUT_MS: TIMEOUT_MS,
      DB_RETRY_MAX_ATTEMPTS: ATTEMPTS,
      DB_RETRY_INITIAL_BACKOFF_MS: 10,
      DB_RETRY_MAX_BACKOFF_MS: MAX_BACKOFF_MS,
      DB_POOL_SIZE: POOL,
      DB_POOL_QUEUE: QUEUE,
      // The subject is the network, not the breaker: it stays closed through the faults.
      DB_BREAKER_FAILURE_THRESHOLD: 1_000,
    });
    const { app } = ids;
    const headers = { ...ids.headers('a', 'write'), 'content-type': 'application/json' };
    const agent = `agent-${randomUUID()}`;
    const post = (url: string, body: unknown) =>
      app.inject({ method: 'POST', url, headers, payload: JSON.stringify(body) });

    const shared: string[] = [];
    for (let i = 0; i < SHARED_EPISODES; i++) {
      const res = await post('/v1/episodes', {
        agent_id: agent,
        task_type: 'testing',
        task_description: `shared ${i}`,
        context: { domain: 'flaky' },
      });
      expect(res.statusCode, res.body).toBe(201);
      shared.push(res.json().id);
    }

    let phase: Phase = 'clean';
    let running = true;
    const results: { phase: Phase; ms: number; status: number; code?: string }[] = [];
    const acked = new Set<string>(); // episode ids, and step actions
    const unknown = new Set<string>();
    let maxInUse = 0;
    let maxQueued = 0;

    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let n = 0; running; n++) {
        const at = phase;
        const started = performance.now();
        const create = n % 2 === 0;
        const token = create ? randomUUID() : `c${c} n${n}`;
        const res = create
          ? await post('/v1/episodes', {
              id: token,
              agent_id: agent,
              task_type: 'testing',
              task_description: 'flaky network',
              context: { domain: 'flaky' },
            })
          : await post(`/v1/episodes/${shared[n % SHARED_EPISODES]}/steps`, {
              steps: [{ tool: 'bash', action: token }],
            });
        const code = res.statusCode === 201 ? undefined : (res.json() as { code?: string }).code;
        results.push({
          phase: at,
          ms: performance.now() - started,
          status: res.statusCode,
          ...(code ? { code } : {}),
        });
        if (res.statusCode === 201) acked.add(token);
        else if (code === 'WRITE_OUTCOME_UNKNOWN') unknown.add(token);
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
    });
    const watch = setInterval(() => {
      const pool = app.engram.db.policy.poolSnapshot;
      maxInUse = Math.max(maxInUse, pool.in_use);
      maxQueued = Math.max(maxQueued, pool.queued);
    }, 5);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const heapBefore = process.memoryUsage().heapUsed;

    await sleep(PHASE_MS);
    phase = 'latency 30 ms';
    proxy.latencyMs = 30;
    await sleep(PHASE_MS);
    proxy.latencyMs = 0;
    phase = 'stall 1.5 s';
    proxy.stall();
    await sleep(1_500);
    proxy.resume();
    await sleep(500);
    phase = 'drops';
    for (const until = performance.now() + PHASE_MS; performance.now() < until; ) {
      proxy.drop();
      await sleep(300);
    }
    phase = 'answers cut 10 %';
    proxy.cutRate = 0.1;
    await sleep(PHASE_MS);
    proxy.cutRate = 0;
    phase = 'clean again';
    await sleep(PHASE_MS);
    running = false;
    await Promise.all(clients);
    clearInterval(watch);
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

    const rows: Row[] = (
      ['clean', 'latency 30 ms', 'stall 1.5 s', 'drops', 'answers cut 10 %', 'clean again'] as const
    ).map((p) => {
      const of = results.filter((r) => r.phase === p);
      const codes = new Map<string, number>();
      for (const r of of) if (r.code) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      return {
        phase: p,
        requests: of.length,
        '201': of.filter((r) => r.status === 201).length,
        '503': of.filter((r) => r.status === 503).length,
        ...latencyFigures(of.map((r) => r.ms)),
        '503 codes': [...codes].map(([code, k]) => `${code} ${k}`).join(', '),
      };
    });
    printTable('Slow and flaky network between Engram and sqld (32 clients, creates and step appends)', rows);

    // What is stored, with the network clean again.
    const db = app.engram.db;
    const episodes = (
      await db.read('SELECT id FROM episodes WHERE tenant = ? AND agent_id = ?', [ids.tenants.a, agent])
    )
      .map((r) => String(r.id))
      .filter((id) => !shared.includes(id));
    const steps = await db.read(
      `SELECT episode_id, step_number, json_extract(body, '$.action') AS action FROM steps
       WHERE tenant = ? AND episode_id IN (${shared.map(() => '?').join(',')}) ORDER BY episode_id, step_number`,
      [ids.tenants.a, ...shared],
    );
    const counts = await db.read(
      `SELECT id, step_count FROM episodes WHERE tenant = ? AND id IN (${shared.map(() => '?').join(',')})`,
      [ids.tenants.a, ...shared],
    );
    const actions = steps.map((s) => String(s.action));
    const numberingBroken = shared.filter((id) => {
      const numbers = steps.filter((s) => s.episode_id === id).map((s) => Number(s.step_number));
      const declared = Number(counts.find((c) => c.id === id)?.step_count);
      return numbers.some((num, i) => num !== i + 1) || numbers.length !== declared;
    });
    const stored = new Set([...episodes, ...actions]);
    printTable('Slow and flaky network: what was stored', [
      {
        'acknowledged writes': acked.size,
        'outcome unknown': unknown.size,
        'stored writes': stored.size,
        'applied twice': actions.length - new Set(actions).size,
        'pool in use max': `${maxInUse} of ${POOL}`,
        'queued max': `${maxQueued} of ${QUEUE}`,
        'test heap growth MB': heapGrowthMb,
        'request bound ms': REQUEST_BOUND_MS,
      },
    ]);

    expect(
      results.filter((r) => r.status !== 201 && r.status !== 503).map((r) => `${r.status} ${r.code}`),
    ).toEqual([]);
    expect(
      results.filter((r) => r.ms > REQUEST_BOUND_MS).map((r) => `${r.phase}: ${r.ms.toFixed(0)} ms`),
    ).toEqual([]);
    expect(
      results.some((r) => r.phase === 'stall 1.5 s' && r.code === 'SERVICE_OVERLOADED'),
      'the full pool queue answered the excess during the stall',
    ).toBe(true);
    expect(maxInUse).toBeLessThanOrEqual(POOL);
    expect(maxQueued).toBeLessThanOrEqual(QUEUE);
    expect(rows.at(-1)?.['201'], 'served again once the network is clean').toBeGreaterThan(0);
    expect(actions.length - new Set(actions).size, 'a step appended twice').toBe(0);
    expect(numberingBroken, 'step numbers with gaps or duplicates, or step_count off').toEqual([]);
    expect(
      [...acked].filter((t) => !stored.has(t)),
      'acknowledged but not stored',
    ).toEqual([]);
    expect(
      [...stored].filter((t) => !acked.has(t) && !unknown.has(t)),
      'stored though answered neither 201 nor outcome unknown',
    ).toEqual([]);
  });
});
