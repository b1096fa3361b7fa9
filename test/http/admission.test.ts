import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// Admission control (issue 13.3): beyond the in-flight limit, or while the event loop is late, a request is
// answered 503 SERVICE_OVERLOADED + Retry-After before its body is read; probes and scrapes still answer.
// It sits on the HTTP server's request event, in front of Fastify, so these tests speak real HTTP (inject
// would bypass it).

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Starts `a` on a loopback port; returns a fetch of a path on it. */
async function serve(a: TestApp) {
  const base = await a.listen({ host: '127.0.0.1', port: 0 });
  return Object.assign((path: string, init?: RequestInit) => fetch(`${base}${path}`, init), {
    port: Number(new URL(base).port),
  });
}

const metric = async (get: Awaited<ReturnType<typeof serve>>, name: string) => {
  const text = await (await get('/metrics')).text();
  return text.split('\n').filter((line) => line.startsWith(name));
};

async function expectShed(res: Response, path: string) {
  const body = await res.text();
  expect(res.status, body).toBe(503);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.headers.get('retry-after')).toBe('1');
  const requestId = res.headers.get('x-request-id');
  expect(JSON.parse(body)).toEqual({
    type: 'urn:engram:problem:service-overloaded',
    title: 'Service Unavailable',
    status: 503,
    detail: 'The service is overloaded; retry later',
    instance: path,
    code: 'SERVICE_OVERLOADED',
    request_id: requestId,
  });
}

describe('admission control', () => {
  it('in flight at the limit - the next request is shed before its body is parsed; probes, scrapes answer', async () => {
    const a = await buildTestApp({ ADMISSION_MAX_IN_FLIGHT: 2 }, { faults: true });
    app = a;
    const get = await serve(a);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Only the list waits: readiness asks the database too, and must still answer.
    a.faults.fault = ({ stmts }) => (stmts.some((s) => s.sql.includes('FROM episodes')) ? gate : undefined);
    const held = [get('/v1/episodes'), get('/v1/episodes')];
    await vi.waitFor(async () =>
      expect(await metric(get, 'engram_http_requests_in_flight ')).toEqual([
        'engram_http_requests_in_flight 2',
      ]),
    );

    // Malformed JSON would be a 400 if it were parsed: a 503 says it never was.
    const path = '/v1/episodes?from=shed';
    await expectShed(
      await get(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"not json',
      }),
      path,
    );
    expect((await get('/health/live')).status).toBe(200);
    expect((await get('/health/ready')).status).toBe(200);
    expect(await metric(get, 'engram_http_requests_shed_total{')).toEqual([
      'engram_http_requests_shed_total{reason="in_flight"} 1',
    ]);

    release();
    for (const res of await Promise.all(held)) expect(res.status, await res.text()).toBe(200);
    // Answered requests leave the count: the limit admits again.
    const after = await get('/v1/episodes');
    expect(after.status, await after.text()).toBe(200);
    expect(await metric(get, 'engram_http_requests_in_flight ')).toEqual([
      'engram_http_requests_in_flight 0',
    ]);
  });

  it('event loop late beyond the limit - shed until it catches up; a sane X-Request-Id is kept', async () => {
    const a = await buildTestApp({ ADMISSION_MAX_IN_FLIGHT: 0, ADMISSION_MAX_EVENT_LOOP_DELAY_MS: 50 });
    app = a;
    const get = await serve(a);
    const socket = connect(get.port, '127.0.0.1');
    await once(socket, 'connect');
    const answer = readAnswer(socket);
    // The request is in the kernel before the loop blocks; after the block, timers run first, so the
    // sampler's late tick is seen before the request is read.
    socket.write('GET /v1/episodes HTTP/1.1\r\nhost: x\r\nx-request-id: late-1\r\nconnection: close\r\n\r\n');
    const busyUntil = performance.now() + 200;
    while (performance.now() < busyUntil); // a blocked loop, as a burst of synchronous work would leave it
    const { status, headers, body } = await answer;
    expect(status, body).toBe(503);
    expect(headers['retry-after']).toBe('1');
    expect(headers['x-request-id']).toBe('late-1');
    expect(JSON.parse(body)).toMatchObject({ code: 'SERVICE_OVERLOADED', request_id: 'late-1' });
    expect((await get('/health/ready')).status).toBe(200);
    expect(await metric(get, 'engram_http_requests_shed_total{')).toEqual([
      'engram_http_requests_shed_total{reason="event_loop_delay"} 1',
    ]);
    // Admitted again as soon as a tick is on time (on a loaded machine a tick can be late on its own).
    await vi.waitFor(async () => expect((await get('/v1/episodes')).status).toBe(200), {
      timeout: 2_000,
      interval: 50,
    });
  });

  it('both limits 0 - nothing is shed and no in-flight count is kept', async () => {
    const a = await buildTestApp({ ADMISSION_MAX_IN_FLIGHT: 0, ADMISSION_MAX_EVENT_LOOP_DELAY_MS: 0 });
    app = a;
    const get = await serve(a);
    expect((await get('/v1/episodes')).status).toBe(200);
    expect(await metric(get, 'engram_http_requests_shed_total{')).toEqual([]);
    expect(await metric(get, 'engram_http_requests_in_flight ')).toEqual([
      'engram_http_requests_in_flight 0',
    ]);
  });
});

/** The status, headers and body of the one answer on a `connection: close` socket. */
async function readAnswer(socket: Socket) {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'end');
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}
