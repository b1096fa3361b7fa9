import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { buildTestApp, type TestApp } from './app.js';

/**
 * The storage backends every contract test runs against: an embedded file and a real sqld (started once
 * per run by the integration tier's global setup). Tests on the shared sqld isolate their data by using
 * fresh ids and a fresh `agent_id` (see `uniqueAgent`).
 */
export const BACKENDS = [
  { name: 'embedded file', build: () => buildTestApp() },
  { name: 'sqld', build: () => buildTestApp({ LIBSQL_URL: inject('sqldUrl') }) },
] as const satisfies readonly { name: string; build: () => Promise<TestApp> }[];

export const uniqueAgent = () => `agent-${randomUUID()}`;

/** A minimal valid episode body, with overrides. */
export const episodeBody = (overrides: Record<string, unknown> = {}) => ({
  task_type: 'debugging',
  task_description: 'fix the flaky test',
  context: { domain: 'web' },
  ...overrides,
});

export interface Sent {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  body: any;
}

/** One request through `app.inject`, JSON in and (parsed) JSON out. */
export async function send(
  app: TestApp,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Sent> {
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, headers: res.headers, body: res.body ? JSON.parse(res.body) : undefined };
}
