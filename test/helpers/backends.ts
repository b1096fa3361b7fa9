import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { z } from 'zod';
import type { AppOverrides } from '../../src/app.js';
import { Problem } from '../../src/http/problem-schema.js';
import { buildTestApp, RESPONSE_SCHEMAS, type TestApp, type TestEnv } from './app.js';

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

type Build = (env?: TestEnv, overrides?: AppOverrides & { faults?: boolean }) => Promise<TestApp>;

/**
 * Each backend's settings (`env`, for builders such as buildIdentityApp) and a builder of an app on its
 * database (`env` and `overrides` added as for `buildTestApp`). `groupCommit`: concurrent writes share one
 * transaction, so a fault injected into one of them hits its neighbours too.
 */
export const BACKENDS: readonly { name: string; env: TestEnv; groupCommit: boolean; build: Build }[] = [
  {
    name: 'embedded file',
    env: PATIENT,
    groupCommit: true,
    build: (env = {}, overrides = {}) => buildTestApp({ ...PATIENT, ...env }, overrides),
  },
  // Under CI=true the global setup fails the run instead of providing no URL, so this never narrows there.
  ...(sqldUrl
    ? [
        {
          name: 'sqld',
          env: { ...PATIENT, LIBSQL_URL: sqldUrl },
          groupCommit: false,
          build: ((env = {}, overrides = {}) =>
            buildTestApp({ ...PATIENT, LIBSQL_URL: sqldUrl, ...env }, overrides)) satisfies Build,
        },
      ]
    : []),
];

export const uniqueAgent = () => `agent-${randomUUID()}`;

/** Rows of `table` that match `where` (SQL of the test's own, with `?` arguments), read from the app's database. */
export async function rowCount(
  app: TestApp,
  table: string,
  where: string,
  ...args: string[]
): Promise<number> {
  const [row] = await app.engram.db.read(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, args);
  return Number(row?.n);
}

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

/**
 * One request through `app.inject`, JSON in and (parsed) JSON out. Every response is checked against the
 * strict response schema its route documents for that status (the one in the OpenAPI document): a field
 * that drifts, a status a route does not document, or an error that is not a problem fails the test here.
 */
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
  const sent = {
    status: res.statusCode,
    headers: res.headers,
    body: res.body ? JSON.parse(res.body) : undefined,
  };
  const documented = (res.raw.res as unknown as Record<symbol, Record<string, unknown> | undefined>)[
    RESPONSE_SCHEMAS
  ];
  expectDocumented(`${method} ${url}`, sent, documented);
  return sent;
}

function expectDocumented(
  request: string,
  sent: Sent,
  documented: Record<string, unknown> | undefined,
): void {
  const where = `${request} answered ${sent.status}`;
  if (sent.status >= 400) {
    // Unmatched routes have no schema of their own; every error is a problem all the same.
    const entry = documented?.[sent.status] as
      | { content?: Record<string, { schema: z.ZodType }> }
      | undefined;
    if (documented && !entry) throw new Error(`${where}, a status its route does not document`);
    const schema = entry?.content?.['application/problem+json']?.schema ?? Problem;
    const parsed = schema.safeParse(sent.body);
    if (!parsed.success)
      throw new Error(`${where}: not its problem schema: ${z.prettifyError(parsed.error)}`);
    return;
  }
  // Operations endpoints (/health, /metrics) are hidden from the API document and have no response schemas.
  if (!documented && !request.split(' ')[1]?.startsWith('/v1/')) return;
  const schema = documented?.[sent.status];
  if (!(schema instanceof z.ZodType)) throw new Error(`${where}, a status its route does not document`);
  const parsed = schema.safeParse(sent.body);
  if (!parsed.success) throw new Error(`${where}: not its response schema: ${z.prettifyError(parsed.error)}`);
}
