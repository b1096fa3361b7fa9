import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { episodeBody, send } from '../helpers/backends.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// Issue 7.1 on the real network path: a TCP proxy between Engram and a real sqld lets a write reach the
// server and commit, then resets Engram's connection instead of passing the answer on (ECONNRESET /
// "other side closed" after the commit). The retry meets the write's claim: stored once, answered right.

const sqldUrl = inject('sqldUrl');

describe.runIf(sqldUrl)('writes through a proxy that loses the answer after the commit (sqld)', () => {
  let proxy: TcpProxy;
  let app: TestApp;
  beforeAll(async () => {
    const target = new URL(sqldUrl);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    app = await buildTestApp({
      LIBSQL_URL: `http://127.0.0.1:${proxy.port}`,
      DB_RETRY_INITIAL_BACKOFF_MS: 10,
    });
  });
  const retries = async () => (await app.engram.metrics.dbRetries.get()).values[0]?.value ?? 0;
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
  });

  it.each([false, true])(
    'auto-numbered append, Idempotency-Key %s - stored once with the numbers answered',
    async (withKey) => {
      const { body: e } = await send(
        app,
        'POST',
        '/v1/episodes',
        episodeBody({ steps: [{ tool: 't', action: 'first' }] }),
      );
      const lost = proxy.resetAfterResponse(
        (request) => request.includes('INSERT INTO steps') && request.includes(e.id),
      );
      const connectionsBefore = proxy.connections;
      const retriesBefore = await retries();
      const res = await send(
        app,
        'POST',
        `/v1/episodes/${e.id}/steps`,
        {
          steps: [
            { tool: 't', action: 'a' },
            { tool: 't', action: 'b' },
          ],
        },
        withKey ? { 'idempotency-key': randomUUID() } : {},
      );
      await lost;
      expect(proxy.connections).toBeGreaterThan(connectionsBefore); // the retry needed a new connection
      expect(await retries()).toBe(retriesBefore + 1);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.items.map((s: { step_number: number }) => s.step_number)).toEqual([2, 3]);
      const stored = await send(app, 'GET', `/v1/episodes/${e.id}/steps`);
      expect(stored.body.items.map((s: { action: string }) => s.action)).toEqual(['first', 'a', 'b']);
      expect(stored.body.items.slice(1)).toEqual(res.body.items);
    },
  );

  it('create without an Idempotency-Key - one episode, answered 201', async () => {
    const agent = randomUUID();
    const lost = proxy.resetAfterResponse(
      (request) => request.includes('INSERT INTO episodes') && request.includes(agent),
    );
    const res = await send(app, 'POST', '/v1/episodes', episodeBody({ agent_id: agent }));
    await lost;
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const listed = await send(app, 'GET', `/v1/episodes?agent_id=${agent}`);
    expect(listed.body.items).toEqual([res.body]);
  });
});
