import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// Admission control (issue 13.3): beyond the in-flight limit, or while the event loop is late, a request is
// answered 503 SERVICE_OVERLOADED + Retry-After before its body is read; probes and scrapes still answer.

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const metric = async (a: TestApp, name: string) => {
  const text = (await a.inject({ method: 'GET', url: '/metrics' })).body;
  return text.split('\n').filter((line) => line.startsWith(name));
};

function expectShed(res: Awaited<ReturnType<TestApp['inject']>>) {
  expect(res.statusCode, res.body).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['retry-after']).toBe('1');
  expect(res.json()).toMatchObject({ status: 503, code: 'SERVICE_OVERLOADED' });
}

describe('admission control', () => {
  it('in flight at the limit - the next request is shed before its body is parsed; probes, scrapes answer', async () => {
    const a = await buildTestApp({ ADMISSION_MAX_IN_FLIGHT: 2 }, { faults: true });
    app = a;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Only the list waits: readiness asks the database too, and must still answer.
    a.faults.fault = ({ stmts }) => (stmts.some((s) => s.sql.includes('FROM episodes')) ? gate : undefined);
    const held = [
      a.inject({ method: 'GET', url: '/v1/episodes' }),
      a.inject({ method: 'GET', url: '/v1/episodes' }),
    ];
    await new Promise((r) => setTimeout(r, 50)); // both reached the database and wait there

    // Malformed JSON would be a 400 if it were parsed: a 503 says it never was.
    const shed = await a.inject({
      method: 'POST',
      url: '/v1/episodes',
      headers: { 'content-type': 'application/json' },
      payload: '{"not json',
    });
    expectShed(shed);
    expect((await a.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await a.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect(await metric(a, 'engram_http_requests_in_flight ')).toEqual(['engram_http_requests_in_flight 2']);
    expect(await metric(a, 'engram_http_requests_shed_total{')).toEqual([
      'engram_http_requests_shed_total{reason="in_flight"} 1',
    ]);

    release();
    for (const res of await Promise.all(held)) expect(res.statusCode, res.body).toBe(200);
    // Answered requests leave the count: the limit admits again.
    const after = await a.inject({ method: 'GET', url: '/v1/episodes' });
    expect(after.statusCode, after.body).toBe(200);
    expect(await metric(a, 'engram_http_requests_in_flight ')).toEqual(['engram_http_requests_in_flight 0']);
  });

  it('event loop late beyond the limit - shed until it catches up', async () => {
    const a = await buildTestApp({ ADMISSION_MAX_IN_FLIGHT: 0, ADMISSION_MAX_EVENT_LOOP_DELAY_MS: 50 });
    app = a;
    const busyUntil = performance.now() + 200;
    while (performance.now() < busyUntil); // a blocked loop, as a burst of synchronous work would leave it
    await new Promise((r) => setTimeout(r, 0)); // the sampler's late tick runs
    expectShed(await a.inject({ method: 'GET', url: '/v1/episodes' }));
    expect((await a.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect(await metric(a, 'engram_http_requests_shed_total{')).toEqual([
      'engram_http_requests_shed_total{reason="event_loop_delay"} 1',
    ]);
    // Admitted again as soon as a tick is on time (on a loaded machine a tick can be late on its own).
    let status = 503;
    for (const until = Date.now() + 2_000; status === 503 && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await a.inject({ method: 'GET', url: '/v1/episodes' })).statusCode;
    }
    expect(status).toBe(200);
  });

  it('both limits 0 - nothing is shed and no in-flight count is kept', async () => {
    const a = await buildTestApp({ ADMISSION_MAX_IN_FLIGHT: 0, ADMISSION_MAX_EVENT_LOOP_DELAY_MS: 0 });
    app = a;
    expect((await a.inject({ method: 'GET', url: '/v1/episodes' })).statusCode).toBe(200);
    expect(await metric(a, 'engram_http_requests_shed_total{')).toEqual([]);
  });
});
