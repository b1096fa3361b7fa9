import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';

// HTTP from the test to published container ports. node:http with a fresh connection per request
// (no keep-alive), so that a failure is attributable to exactly one request.

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: <T = Record<string, unknown>>() => T;
}

export interface HttpOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Rejects with an Error whose `code` is the socket error (ECONNREFUSED, ECONNRESET, ...) or 'ETIMEDOUT'. */
export function http(url: string, options: HttpOptions = {}): Promise<HttpResponse> {
  const { method = 'GET', body, headers = {}, timeoutMs = 10_000 } = options;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        timeout: timeoutMs,
        headers: {
          connection: 'close',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export function errorCode(err: unknown): string {
  return (err as { code?: string })?.code ?? String(err);
}

/** Polls `probe` until it returns a value other than undefined; bounded by `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 500 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no attempt';
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = 'not yet';
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
}

export async function waitForReady(baseUrl: string, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    `${baseUrl}/health/ready`,
    async () => ((await http(`${baseUrl}/health/ready`)).status === 200 ? true : undefined),
    {
      timeoutMs,
    },
  );
}

/** The API key the containers of a run are started with (`ENGRAM_API_KEYS`): one tenant, role write. */
export const E2E_KEY = randomBytes(32).toString('hex');
export const E2E_TENANT = 'e2e';
export const E2E_API_KEYS = `${E2E_KEY}:${E2E_TENANT}:write`;
/** Headers of every /v1 request the e2e tests make. */
export const AUTH = { authorization: `Bearer ${E2E_KEY}` };

export interface EpisodeDraft {
  id: string;
  task_type: string;
  task_description: string;
  context: { domain: string };
}

/** A valid episode with a client-supplied id, so that any retry of its POST is idempotent. */
export function newEpisode(label: string): EpisodeDraft {
  const id = randomUUID();
  return { id, task_type: 'debugging', task_description: `e2e ${label} ${id}`, context: { domain: 'e2e' } };
}

/** POST /v1/episodes with the run's API key and the episode's id as Idempotency-Key. */
export function postEpisode(
  baseUrl: string,
  episode: EpisodeDraft,
  timeoutMs = 15_000,
): Promise<HttpResponse> {
  return http(`${baseUrl}/v1/episodes`, {
    method: 'POST',
    body: episode,
    headers: { ...AUTH, 'idempotency-key': episode.id },
    timeoutMs,
  });
}

/** GET /v1/episodes/{id} with the run's API key (and any other headers, such as a Consistency-Token). */
export function getEpisode(
  baseUrl: string,
  id: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<HttpResponse> {
  return http(`${baseUrl}/v1/episodes/${id}`, { headers: { ...AUTH, ...headers }, timeoutMs });
}

export interface WriteOutcome {
  episode: EpisodeDraft;
  status: number;
  error?: string;
}

/** Writes the episodes `source` yields with `concurrency` workers; one outcome per episode. */
export async function writeAll(
  baseUrl: string,
  source: Iterable<EpisodeDraft>,
  concurrency: number,
  onAck?: (acked: number) => void,
): Promise<WriteOutcome[]> {
  const results: WriteOutcome[] = [];
  const iterator = source[Symbol.iterator]();
  let acked = 0;
  const worker = async () => {
    for (let item = iterator.next(); !item.done; item = iterator.next()) {
      const episode = item.value;
      try {
        const res = await postEpisode(baseUrl, episode);
        results.push({ episode, status: res.status });
        if (res.status === 200 || res.status === 201) onAck?.(++acked);
      } catch (err) {
        results.push({ episode, status: 0, error: errorCode(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/**
 * Ids of the episodes `baseUrl` does not return as written (8 readers at a time). An answer that is neither
 * 200 nor 404 (a 503 while an instance recovers, no answer) is asked again for up to `patienceMs`.
 */
export async function findMissing(
  baseUrl: string,
  episodes: readonly EpisodeDraft[],
  patienceMs = 30_000,
): Promise<string[]> {
  const missing: string[] = [];
  const deadline = Date.now() + patienceMs;
  let next = 0;
  const lookUp = async (episode: EpisodeDraft): Promise<HttpResponse | undefined> => {
    for (;;) {
      const res = await getEpisode(baseUrl, episode.id, {}, 15_000).catch(() => undefined);
      if (res?.status === 200 || res?.status === 404 || Date.now() > deadline) return res;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < episodes.length) {
        const episode = episodes[next++] as EpisodeDraft;
        const res = await lookUp(episode);
        if (res?.status !== 200 || res.json().task_description !== episode.task_description)
          missing.push(episode.id);
      }
    }),
  );
  return missing;
}

/**
 * Waits until HAProxy (the `scale` profile's `lb`) has `count` Engram instances in rotation; `lbMetricsUrl` is
 * its loopback-only metrics port.
 */
export async function waitForBackends(lbMetricsUrl: string, count: number): Promise<void> {
  await waitFor(
    `${count} load-balanced instances in rotation`,
    async () => {
      const metrics = (await http(`${lbMetricsUrl}/metrics`)).text;
      const active = /^haproxy_backend_active_servers\{proxy="engram"\} (\d+)/m.exec(metrics)?.[1];
      return Number(active) === count ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}
