import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ComposeProject, composeStack, runId } from './helpers/compose.js';
import {
  E2E_TENANT,
  type EpisodeDraft,
  findMissing,
  getEpisode,
  http,
  newEpisode,
  postEpisode,
  waitFor,
  waitForBackends,
  waitForReady,
  writeAll,
} from './helpers/http.js';
import { type BuiltImage, buildEngramImage, removeImage } from './helpers/image.js';
import { run } from './helpers/process.js';
import {
  type ContainerRuntime,
  logRuntime,
  probeContainerRuntime,
  requireRuntime,
  shouldRun,
} from './helpers/runtime.js';

// docker-compose.yml for real: the default stack (engram + sqld + prometheus), data across
// down/up, then the `scale` profile (second replica on a sqld read replica, HAProxy in front).
// The tests share one compose project and run in order.

const probe = await probeContainerRuntime();
logRuntime(probe);

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

describe.runIf(shouldRun(probe))('docker compose stack', () => {
  const name = runId('engrame2e');
  let runtime: ContainerRuntime;
  let image: BuiltImage;
  let project: ComposeProject;
  let engramUrl: string;
  let engram2Url: string;
  let lbUrl: string;
  let lbMetricsUrl: string;
  let prometheusUrl: string;
  let failed = false;
  const firstEpisode = newEpisode('compose');

  beforeAll(async () => {
    runtime = requireRuntime(probe);
    image = await buildEngramImage(runtime);
    const stack = await composeStack(runtime, name, image.tag);
    project = stack.project;
    ({
      engram: engramUrl,
      engram2: engram2Url,
      lb: lbUrl,
      lbMetrics: lbMetricsUrl,
      prometheus: prometheusUrl,
    } = stack.urls);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });

  afterAll(async () => {
    if (!project) return;
    if (failed) console.log(`e2e: logs of ${name}:\n${await project.logs()}`);
    await project.destroy();
    await removeImage(runtime, `engram-lb:${name}`);
  });

  it('defaultStack_up_createsAndReadsAnEpisodeThroughSqld', async () => {
    const started = Date.now();
    await project.up();
    await waitForReady(engramUrl);
    console.log(`e2e: default stack up and ready in ${Date.now() - started} ms`);

    const health = (await http(`${engramUrl}/health`)).json<{ database: { mode: string } }>();
    expect(health.database.mode).toBe('remote');

    const created = await postEpisode(engramUrl, firstEpisode);
    expect(created.status).toBe(201);
    expect(created.json()).toMatchObject({ id: firstEpisode.id, tenant: E2E_TENANT });
    const read = await getEpisode(engramUrl, firstEpisode.id);
    expect(read.status).toBe(200);
    expect(read.json()).toMatchObject({
      id: firstEpisode.id,
      task_description: firstEpisode.task_description,
    });
    // The key is what lets it in: without one, or with another, /v1 is a 401.
    const anonymous = await http(`${engramUrl}/v1/episodes/${firstEpisode.id}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="engram"');
    const wrong = await http(`${engramUrl}/v1/episodes`, {
      headers: { authorization: 'Bearer not-the-key-0123456789' },
    });
    expect(wrong.status).toBe(401);
  });

  it('prometheus_targets_reportEngramUp', async () => {
    const target = await waitFor(
      'Prometheus target engram up',
      async () => {
        const body = (await http(`${prometheusUrl}/api/v1/targets`)).json<{
          data: { activeTargets: Target[] };
        }>();
        return body.data.activeTargets.find(
          (t) => t.labels.job === 'engram' && t.labels.service === 'engram' && t.health === 'up',
        );
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(target.lastError).toBe('');
    // The scrape really reached Engram: its own series are stored.
    const query = await http(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent('up{job="engram",service="engram"}')}`,
    );
    expect(query.json<{ data: { result: { value: [number, string] }[] } }>().data.result[0]?.value[1]).toBe(
      '1',
    );
  });

  it('defaultStack_downThenUp_keepsTheEpisode', async () => {
    await project.down({ volumes: false });
    await project.up();
    await waitForReady(engramUrl);
    const read = await getEpisode(engramUrl, firstEpisode.id);
    expect(read.status).toBe(200);
    expect(read.json()).toMatchObject({
      id: firstEpisode.id,
      task_description: firstEpisode.task_description,
    });
  });

  it('scaleProfile_200WritesThroughTheLoadBalancer_areReadableThroughEachReplica', async () => {
    await project.compose(['--profile', 'scale', 'build', 'lb'], 600_000);
    await project.up(['scale']);
    await Promise.all([waitForReady(engramUrl), waitForReady(engram2Url)]);
    await waitForBackends(lbMetricsUrl, 2);

    const episodes = Array.from({ length: 200 }, (_, i) => newEpisode(`scale-${i}`));
    const started = Date.now();
    const before = await answeredPerReplica();
    const results = await writeAll(lbUrl, episodes, 8);
    const perBackend = difference(await answeredPerReplica(), before);
    console.log(
      `e2e: 200 writes through the load balancer in ${Date.now() - started} ms, per replica ${JSON.stringify(perBackend)}`,
    );
    expect(results.filter((r) => r.status !== 201)).toEqual([]);
    expect(perBackend.engram).toBeGreaterThan(0);
    expect(perBackend['engram-2']).toBeGreaterThan(0);

    // Responses through the load balancer do not say which replica answered (SPEC §6), and it asks for keys.
    for (let i = 0; i < 4; i++) {
      const res = await getEpisode(lbUrl, (episodes[i] as EpisodeDraft).id);
      expect(res.status).toBe(200);
      expect(res.headers['x-engram-backend']).toBeUndefined();
      const headerText = JSON.stringify(res.headers);
      for (const name of ['engram-2', 'engram:8080', 'sqld']) expect(headerText).not.toContain(name);
    }
    expect((await http(`${lbUrl}/v1/episodes`)).status).toBe(401);
    // HAProxy's own metrics (which do name them) are not on the load balancer's public port.
    expect((await http(`${lbUrl}/lb/metrics`)).text).not.toContain('engram-2');

    // engram-2 reads from the sqld read replica: eventually consistent, so poll (bounded).
    for (const url of [engramUrl, engram2Url]) {
      const missing = await waitFor(
        `all 200 episodes readable through ${url}`,
        async () => {
          const absent = await findMissing(url, episodes);
          return absent.length === 0 ? absent : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(missing).toEqual([]);
    }
  });

  it('scaleProfile_1000WriteThenReadPairs_sequentialAndConcurrent_noMissWithTheToken_readsWithoutItServedByTheReplica', async () => {
    const before = await instanceCounters(engram2Url);
    const sequential = await writeThenRead(1_000, 1, true);
    const concurrent = await writeThenRead(1_000, 8, true);
    const tokened = await instanceCounters(engram2Url);
    // Reads with the token that the replica had not caught up with within LIBSQL_READ_WAIT_MS went to the
    // primary, and a run of them opens the replica's circuit breaker (README "Read replica"): reads without
    // the token would then go to the primary too, for as long as it stays open. Start from a closed one.
    await untilReadingFromReplica();
    const settled = await instanceCounters(engram2Url);
    // Without sending the token back: engram-2 still reads from the replica (and may miss a fresh write).
    const untokened = await writeThenRead(200, 8, false);
    const after = await instanceCounters(engram2Url);
    console.log(
      `e2e: write-then-read through the load balancer: sequential ${JSON.stringify(sequential)}, concurrent ` +
        `${JSON.stringify(concurrent)}: engram-2 served ${tokened.gets - before.gets} of those reads, ` +
        `${tokened.replica - before.replica} from the read replica, ${tokened.fallback - before.fallback} from the ` +
        `primary after waiting for the replica; without the token ${JSON.stringify(untokened)}: engram-2 served ` +
        `${after.gets - settled.gets}, ${after.replica - settled.replica} from the read replica, ` +
        `${after.fallback - settled.fallback} from the primary after waiting for the replica`,
    );
    for (const outcome of [sequential, concurrent]) {
      expect(outcome.failed).toEqual([]);
      expect(outcome.misses).toEqual([]);
      expect(outcome.withToken).toBe(outcome.pairs);
    }
    // With the token, engram-2 answered its share of the reads, from the replica or (lagging) the primary.
    expect(tokened.gets - before.gets).toBeGreaterThan(200);
    expect(tokened.replica + tokened.fallback - before.replica - before.fallback).toBe(
      tokened.gets - before.gets,
    );
    // Without it, every read engram-2 answered was sent to the replica (a read kept off it is counted by
    // neither outcome): answered there, or by the primary when the replica did not answer within
    // LIBSQL_READ_WAIT_MS (the documented fallback, read-replica.test.ts), and the replica answered most.
    expect(untokened.failed).toEqual([]);
    const served = after.gets - settled.gets;
    expect(served).toBeGreaterThan(20);
    expect(after.replica + after.fallback - settled.replica - settled.fallback).toBe(served);
    expect(after.fallback - settled.fallback).toBeLessThan(after.replica - settled.replica);
  });

  /**
   * Reads from engram-2 (an id never written: a 404 is an answer too) until two reads in a row were answered by
   * its replica, which is what closes the replica's circuit breaker (DB_BREAKER_SUCCESS_THRESHOLD 2).
   */
  async function untilReadingFromReplica() {
    let inARow = 0;
    await waitFor(
      'engram-2 reading from its replica again',
      async () => {
        const { replica } = await instanceCounters(engram2Url);
        await getEpisode(engram2Url, newEpisode('probe').id);
        inARow = (await instanceCounters(engram2Url)).replica > replica ? inARow + 1 : 0;
        return inARow >= 2 ? inARow : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  /** `pairs` write-then-read pairs through the load balancer with `concurrency` clients. */
  async function writeThenRead(pairs: number, concurrency: number, sendToken: boolean) {
    const outcome = { pairs, withToken: 0, misses: [] as string[], failed: [] as string[] };
    let next = 0;
    const client = async () => {
      while (next < pairs) {
        const episode = newEpisode(`pair-${next++}`);
        const written = await postEpisode(lbUrl, episode);
        if (written.status !== 201) {
          outcome.failed.push(`POST ${written.status}`);
          continue;
        }
        const token = written.headers['consistency-token'];
        if (typeof token === 'string') outcome.withToken++;
        const headers: Record<string, string> =
          sendToken && typeof token === 'string' ? { 'consistency-token': token } : {};
        const read = await getEpisode(lbUrl, episode.id, headers);
        if (read.status === 404) outcome.misses.push(episode.id);
        else if (read.status !== 200 || read.json().task_description !== episode.task_description)
          outcome.failed.push(`GET ${read.status}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
    return { ...outcome, misses: sendToken ? outcome.misses : outcome.misses.length };
  }

  /** An instance's GETs of one episode, and its reads answered by the replica or by the primary instead. */
  async function instanceCounters(baseUrl: string) {
    const text = (await http(`${baseUrl}/metrics`)).text;
    const sum = (pattern: RegExp) =>
      [...text.matchAll(pattern)].reduce((total, m) => total + Number(m[1]), 0);
    return {
      gets: sum(
        /^http_request_duration_seconds_count\{[^}]*method="GET"[^}]*route="\/v1\/episodes\/:id"[^}]*\} (\d+)/gm,
      ),
      replica: sum(/^engram_db_replica_reads_total\{outcome="replica"\} (\d+)/gm),
      fallback: sum(/^engram_db_replica_reads_total\{outcome="primary_fallback"\} (\d+)/gm),
    };
  }

  it('scaleProfile_replicaStoppedMidLoad_loadBalancerKeepsServingWithoutFailedWrites', async () => {
    const run1 = await writeThroughFailover('stop', ['stop', '-t', '30']);
    expect(run1.failed).toEqual([]);
    expect(run1.writes).toBeGreaterThan(60);
    // Graceful: readiness took it out of the rotation, in-flight requests finished, exit 0.
    expect(await project.exitCode('engram-2')).toBe(0);
    expect(await findMissing(engramUrl, run1.acked)).toEqual([]);
  });

  it('scaleProfile_replicaKilledMidLoad_loadBalancerReplaysInFlightWritesIdempotently', async () => {
    await run(runtime.docker, ['start', await project.containerId('engram-2')]);
    await waitForReady(engram2Url);
    const run2 = await writeThroughFailover('kill', ['kill', '--signal', 'KILL']);
    // Writes in flight on the killed replica were replayed on the other one (same Idempotency-Key),
    // so no client saw a failure and nothing was written twice (ids are the clients').
    expect(run2.failed).toEqual([]);
    expect(run2.replayed).toBeGreaterThan(0);
    expect(await findMissing(engramUrl, run2.acked)).toEqual([]);
  });

  /**
   * Writes through the load balancer with 8 workers; after 60 acknowledged writes runs
   * `docker <action> engram-2`, and goes on until 2 s after it returned (≤ 3,000 writes, ≤ 90 s).
   */
  async function writeThroughFailover(label: string, action: string[]) {
    await waitForBackends(lbMetricsUrl, 2);
    const logBefore = await lbPostRetries();
    const engram2 = await project.containerId('engram-2');
    let done: Promise<number> | undefined;
    let doneAt = 0;
    const deadline = Date.now() + 90_000;
    function* episodes() {
      for (let i = 0; i < 3_000 && Date.now() < deadline && !(doneAt && Date.now() > doneAt + 2_000); i++) {
        yield newEpisode(`${label}-${i}`);
      }
    }
    const answeredBefore = await answeredPerReplica();
    const outcome = await writeAll(lbUrl, episodes(), 8, (acked) => {
      if (acked !== 60) return;
      const t0 = Date.now();
      done = run(runtime.docker, [...action, engram2], { timeoutMs: 60_000 }).then(() => {
        doneAt = Date.now();
        return doneAt - t0;
      });
    });
    const actionMs = await done;
    const failed = outcome.filter((r) => r.status !== 201 && r.status !== 200);
    const replayed = (await lbPostRetries()) - logBefore;
    console.log(
      `e2e: docker ${action[0]} engram-2 after 60 acknowledged writes (took ${actionMs} ms): ${outcome.length} writes, ` +
        `${failed.length} failed, per replica ${JSON.stringify(difference(await answeredPerReplica(), answeredBefore))}, ` +
        `replayed by the load balancer: ${replayed}`,
    );
    expect(actionMs).toBeDefined();
    return {
      writes: outcome.length,
      failed,
      replayed,
      acked: outcome.filter((r) => r.status === 201 || r.status === 200).map((r) => r.episode),
    };
  }

  /** POSTs HAProxy retried or redispatched so far, from its httplog lines. */
  async function lbPostRetries(): Promise<number> {
    const log = await project.serviceLogs('lb');
    // "<termination state> <actconn>/<feconn>/<beconn>/<srv_conn>/<retries>"; "+" marks a redispatch.
    return log
      .split('\n')
      .filter((l) => l.includes('"POST /v1/episodes') && / \S{4} \d+\/\d+\/\d+\/\d+\/\+?[1-9]\d* /.test(l))
      .length;
  }

  /** Responses each replica gave through the load balancer so far, from HAProxy's metrics (loopback port). */
  async function answeredPerReplica(): Promise<Record<string, number>> {
    const metrics = (await http(`${lbMetricsUrl}/metrics`)).text;
    const counts: Record<string, number> = {};
    for (const m of metrics.matchAll(
      /^haproxy_server_http_responses_total\{proxy="engram",server="([^"]+)",code="[1-5]xx"\} (\d+)/gm,
    )) {
      counts[m[1] as string] = (counts[m[1] as string] ?? 0) + Number(m[2]);
    }
    return counts;
  }
});

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([name, n]) => [name, n - (before[name] ?? 0)]));
}
