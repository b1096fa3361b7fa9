import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { buildTestApp, type TestApp, type TestEnv } from './app.js';

/**
 * The storage backends every contract test runs against: an embedded file and a real sqld (started once
 * per run by the integration tier's global setup). Tests on the shared sqld isolate their data by using
 * fresh ids and a fresh `agent_id` (see `uniqueAgent`).
 */
const sqldUrl = inject('sqldUrl');
if (!sqldUrl)
  console.warn('NOT RUN on sqld: no libSQL server could start (the global setup said why); embedded only');

// Contract tests check semantics, not latency: on a loaded 2-core CI machine a burst of 200 requests to a
// containerised sqld can queue for longer than the default 5 s deadline, which is the outage tests' subject.
const PATIENT = { DB_TIMEOUT_MS: 30_000 };

/** Each backend's settings (`env`, for builders such as buildIdentityApp) and a builder of a plain app. */
export const BACKENDS: readonly { name: string; env: TestEnv; build: () => Promise<TestApp> }[] = [
  { name: 'embedded file', env: PATIENT, build: () => buildTestApp(PATIENT) },
  // Under CI=true the global setup fails the run instead of providing no URL, so this never narrows there.
  ...(sqldUrl
    ? [
        {
          name: 'sqld',
          env: { ...PATIENT, LIBSQL_URL: sqldUrl },
          build: () => buildTestApp({ ...PATIENT, LIBSQL_URL: sqldUrl }),
        },
      ]
    : []),
];

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
