import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIdentityApp, type IdentityApp } from '../helpers/identities.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { FULL, printTable } from './harness.js';
import { type ProxiedSqld, startProxiedSqld } from './proxied-sqld.js';

// Issue 13.5 (RELIABILITY R5): a client that retries every write with the same Idempotency-Key until it has a
// definitive answer, while proxies cut answers mid-way on both hops: client → Engram (the service did the
// write, the client never hears) and Engram → sqld (sqld committed, Engram never hears, and must find out from
// the write's claim). In the end there is exactly one record per intended write: one episode per create,
// each appended step once, numbered without gaps or duplicates.

const WORKERS = 16;
const EPISODES = FULL ? 200 : 40;
const APPENDS = 3;
const CLIENT_CUT_RATE = 0.2;
const DB_CUT_RATE = 0.1;
const MAX_ATTEMPTS = 40;

let sqld: ProxiedSqld | undefined;
let clientProxy: TcpProxy | undefined;
let ids: IdentityApp | undefined;
afterAll(async () => {
  await clientProxy?.close();
  await ids?.close();
  await sqld?.close();
});

interface Tally {
  attempts: number;
  disconnects: number;
  unavailable: number;
  conflicts: number;
  replays: number;
}

describe('a retrying client through proxies that cut answers after the commit', () => {
  it('every write retried with its Idempotency-Key - exactly one record per intended write', async () => {
    sqld = await startProxiedSqld();
    const dbProxy = sqld.proxy;
    ids = await buildIdentityApp({ LIBSQL_URL: sqld.url, DB_RETRY_INITIAL_BACKOFF_MS: 10 }, { listen: true });
    const service = new URL(ids.url);
    clientProxy = await startTcpProxy({ host: service.hostname, port: Number(service.port) });
    const base = `http://127.0.0.1:${clientProxy.port}`;
    const headers = { ...ids.headers('a', 'write'), 'content-type': 'application/json' };
    dbProxy.cutRate = DB_CUT_RATE;
    clientProxy.cutRate = CLIENT_CUT_RATE;
    const tally: Tally = { attempts: 0, disconnects: 0, unavailable: 0, conflicts: 0, replays: 0 };

    /** Sends one intended write until it gets a definitive (2xx) answer; returns its body. */
    const write = async (path: string, body: unknown): Promise<{ id: string }> => {
      const key = randomUUID();
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        tally.attempts++;
        let wait = 20;
        try {
          // A fresh connection per attempt, as a client does after a broken one.
          const res = await fetch(`${base}${path}`, {
            method: 'POST',
            headers: { ...headers, 'idempotency-key': key, connection: 'close' },
            body: JSON.stringify(body),
          });
          const answer = (await res.json()) as { id: string; code?: string };
          if (res.ok) {
            if (res.headers.get('idempotent-replayed') === 'true') tally.replays++;
            return answer;
          }
          if (res.status === 409)
            tally.conflicts++; // the first attempt is still in flight
          else if (res.status === 503) tally.unavailable++;
          else throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`);
          wait = Math.min(1_000, Number(res.headers.get('retry-after') ?? 0) * 1000) || wait;
        } catch (err) {
          if (err instanceof Error && err.message.startsWith(path)) throw err;
          tally.disconnects++; // the answer was cut: the write may or may not have happened
        }
        await new Promise((r) => setTimeout(r, wait));
      }
      throw new Error(`${path}: no definitive answer in ${MAX_ATTEMPTS} attempts`);
    };

    const agent = `agent-${randomUUID()}`;
    const intended = new Map<string, string[]>(); // episode id → the actions of its steps, in append order
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        for (let n = next++; n < EPISODES; n = next++) {
          const episode = await write('/v1/episodes', {
            agent_id: agent,
            task_type: 'testing',
            task_description: `retrying client ${n}`,
            context: { domain: 'retries' },
            steps: [{ tool: 'bash', action: `e${n} s1` }],
          });
          const actions = [`e${n} s1`];
          for (let a = 0; a < APPENDS; a++) {
            const action = `e${n} append ${a}`;
            await write(`/v1/episodes/${episode.id}/steps`, { steps: [{ tool: 'bash', action }] });
            actions.push(action);
          }
          intended.set(episode.id, actions);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    dbProxy.cutRate = 0;
    clientProxy.cutRate = 0;

    // What is stored, read straight from the database.
    const db = ids.app.engram.db;
    const episodes = await db.read('SELECT id FROM episodes WHERE tenant = ? AND agent_id = ?', [
      ids.tenants.a,
      agent,
    ]);
    const steps = await db.read(
      `SELECT s.episode_id, s.step_number, json_extract(s.body, '$.action') AS action FROM steps s JOIN episodes e
         ON e.tenant = s.tenant AND e.id = s.episode_id
       WHERE e.tenant = ? AND e.agent_id = ? ORDER BY s.episode_id, s.step_number`,
      [ids.tenants.a, agent],
    );
    const stored = new Map<string, { numbers: number[]; actions: string[] }>();
    for (const row of steps) {
      const entry = stored.get(String(row.episode_id)) ?? { numbers: [], actions: [] };
      entry.numbers.push(Number(row.step_number));
      entry.actions.push(String(row.action));
      stored.set(String(row.episode_id), entry);
    }
    const badNumbering = [...stored].filter(([, s]) => s.numbers.some((num, i) => num !== i + 1));
    const wrongSteps = [...intended].filter(
      ([id, actions]) => JSON.stringify(stored.get(id)?.actions) !== JSON.stringify(actions),
    );
    const intendedWrites = EPISODES * (1 + APPENDS);
    printTable('Retrying client: answers cut on both hops, every write retried with its key', [
      {
        'intended writes': intendedWrites,
        attempts: tally.attempts,
        'answers cut (client hop)': clientProxy.cuts,
        'answers cut (sqld hop)': dbProxy.cuts,
        'client saw disconnects': tally.disconnects,
        '503s': tally.unavailable,
        '409s': tally.conflicts,
        replays: tally.replays,
        'episodes stored': episodes.length,
        'duplicates or gaps': badNumbering.length + wrongSteps.length,
        'writes/s': intendedWrites / seconds,
      },
    ]);

    expect(clientProxy.cuts, 'the client hop cut answers').toBeGreaterThan(0);
    expect(dbProxy.cuts, 'the sqld hop cut answers').toBeGreaterThan(0);
    expect(tally.replays, 'some retries met a stored write').toBeGreaterThan(0);
    expect(episodes.length, 'one episode per intended create').toBe(EPISODES);
    expect(new Set(episodes.map((e) => String(e.id)))).toEqual(new Set(intended.keys()));
    expect(badNumbering, 'step numbers with gaps or duplicates').toEqual([]);
    expect(wrongSteps, 'episodes whose steps are not the intended ones, once each').toEqual([]);
  });
});
