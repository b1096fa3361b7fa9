import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// Consistency tokens on the embedded file: one database, every read already sees every write, so writes answer
// without a token and a read that sends one (from another deployment's write, say) is served as usual.

let app: TestApp;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(async () => {
  await app.close();
});

describe('Consistency-Token on the embedded database', () => {
  it('POST /v1/episodes - embedded - answers without a consistency token', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/episodes',
      payload: { task_type: 'testing', task_description: 'token', context: { domain: 'token' } },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['consistency-token']).toBeUndefined();
  });

  it('GET with a well-formed token - embedded - served as without one', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/v1/episodes',
      headers: { 'consistency-token': '42' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toHaveLength(1);
  });

  it('GET with a malformed token - any mode - 400 problem naming the header', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/steps', headers: { 'consistency-token': 'x1' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ in: 'headers', path: '/consistency-token' }],
    });
  });
});
