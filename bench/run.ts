import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AutocannonRequest } from 'autocannon';
import { directCreate, directRead, type LoopTiming, rawGroupedCreate, rawRead } from './baselines.js';
import {
  episodeCreateStatements,
  filteredListStatement,
  getByIdStatement,
  SENTINEL,
  schemaStatements,
} from './capture.js';
import { type Measurement, measureLoad } from './load.js';
import type { ProbeLine } from './probe.js';
import { PROBE_HEADER, probeRows, readProbe } from './probe-report.js';
import { freePort, type ServerProcess, startProcess } from './processes.js';
import {
  type Check,
  consoleTable,
  describeMachine,
  machineLine,
  markdownTable,
  mdTable,
  type TableRow,
  tally,
  textTable,
} from './report.js';
import { createBodyTemplate, DOMAIN_COUNT, domainOf, populationEpisode, stepBody } from './workload.js';

// `npm run bench [-- --only create,get --duration 5]`: the built service against its baselines (bench/README.md).

const SCENARIOS = ['health', 'create', 'get', 'list', 'steps'] as const;
type Scenario = (typeof SCENARIOS)[number];

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_ENTRY = join(ROOT, 'dist', 'src', 'server.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const RAW_PER_TRANSACTION = 32;
const POPULATION_BATCH = 500;
const JSON_HEADERS = { 'content-type': 'application/json' };

// ---- Options -------------------------------------------------------------------------------------------

const USAGE = `usage: npm run bench -- [--only ${SCENARIOS.join(',')}] [--duration S] [--warmup S]
                        [--connections N] [--population N] [--keep] [--cpu-prof] [--probe]
  --only         scenarios to run (default: all); their baselines run with them
  --duration     seconds of each measured load phase (default 10; in-process baselines run half as long)
  --warmup       seconds of warm-up before each load phase (default 3)
  --connections  concurrent connections of every load phase (default 64)
  --population   episodes pre-populated for get / list / steps (default 100000)
  --keep         keep the temporary directory (databases, server log)
  --cpu-prof     run the server under node --cpu-prof; the profile goes to bench/results/profiles/
                 (summarise it with: node --import tsx bench/profile-summary.ts <file>)
  --probe        preload bench/probe.ts into the server: time in SQL, COMMIT and group sizes,
                 event-loop delay per scenario (a second table)`;

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
      population: { type: 'string', default: '100000' },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      probe: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const only = (values.only ?? SCENARIOS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0 || only.length === 0) {
    throw new Error(
      `--only takes a comma-separated list of ${SCENARIOS.join(', ')}; got ${JSON.stringify(values.only)}`,
    );
  }
  return {
    only: new Set(only as Scenario[]),
    durationS: positive('duration', values.duration, 1),
    warmupS: positive('warmup', values.warmup, 0),
    connections: Math.trunc(positive('connections', values.connections, 1)),
    population: Math.trunc(positive('population', values.population, POPULATION_BATCH)),
    keep: values.keep,
    cpuProf: values['cpu-prof'],
    probe: values.probe,
  };
}

// ---- Helpers -------------------------------------------------------------------------------------------

/** Seeded PRNG (mulberry32): the same run picks the same ids. */
function random(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const problems: string[] = [];
const log = (line: string) => console.log(line);

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  return { status: res.status, body };
}

function expect(condition: unknown, what: string, detail: unknown): asserts condition {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(detail).slice(0, 400)}`);
}

/** The commit under test, and whether the service's sources differ from it (others edit the tree too). */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'routes', 'package.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} + uncommitted changes in src/routes` : head;
  } catch {
    return 'unknown (no git)';
  }
}

/** Server-side configuration the environment changes (secrets masked): part of what was measured. */
function serverEnvOverrides(): string[] {
  return Object.entries(process.env)
    .filter(([k]) => /^(DB_|HTTP_BODY|RATE_LIMIT|SHUTDOWN_|LIBSQL_BUSY|METRICS_)/.test(k))
    .map(([k, v]) => `${k}=${/TOKEN|KEY/.test(k) ? '***' : v}`);
}

function describeFailures(name: string, m: Measurement): void {
  if (m.failures + m.warmupFailures === 0) return;
  const codes = Object.entries(m.statuses)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${n}× ${code}`);
  problems.push(
    `${name}: ${m.failures} failed in the measured phase (${[...codes, `${m.errors} connection errors`, `${m.timeouts} timeouts`].join(', ')}), ${m.warmupFailures} in warm-up`,
  );
}

// ---- Scenarios against the service ---------------------------------------------------------------------

async function checkCreate(url: string, body: string): Promise<void> {
  const res = await request(`${url}/v1/episodes`, { method: 'POST', headers: JSON_HEADERS, body });
  const record = res.body as { id?: string; step_count?: number; tags?: string[]; location?: unknown };
  expect(res.status === 201, 'POST /v1/episodes should answer 201', res);
  expect(
    record.step_count === 5 && record.location && record.tags?.length === 4,
    'created episode is incomplete',
    record,
  );
}

/** Pre-populates `count` episodes through `POST /v1/episodes/batch`, two requests in flight; returns the ids. */
async function populate(url: string, count: number): Promise<{ ids: string[]; seconds: number }> {
  const started = performance.now();
  const now = Date.now();
  const batches = Math.ceil(count / POPULATION_BATCH);
  const ids: string[][] = new Array(batches);
  let nextBatch = 0;
  const worker = async () => {
    for (let b = nextBatch++; b < batches; b = nextBatch++) {
      const first = b * POPULATION_BATCH;
      const size = Math.min(POPULATION_BATCH, count - first);
      const episodes = Array.from({ length: size }, (_, k) => populationEpisode(first + k, now));
      const res = await request(`${url}/v1/episodes/batch`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ episodes }),
      });
      const got = (res.body as { ids?: string[] }).ids;
      expect(
        res.status === 201 && got?.length === size,
        `POST /v1/episodes/batch #${b} should answer 201`,
        res,
      );
      ids[b] = got;
    }
  };
  await Promise.all([worker(), worker()]);
  return { ids: ids.flat(), seconds: (performance.now() - started) / 1000 };
}

async function checkList(url: string): Promise<void> {
  const domain = domainOf(3);
  const res = await request(`${url}/v1/episodes?domain=${domain}&status=completed&limit=20`);
  const page = res.body as {
    items?: { context: { domain: string }; status: string }[];
    next_cursor?: string | null;
  };
  expect(res.status === 200, 'GET /v1/episodes should answer 200', res);
  expect(
    page.items?.length === 20 && page.next_cursor,
    'filtered list should return a full page and a cursor',
    page,
  );
  expect(
    page.items.every((e) => e.context.domain === domain && e.status === 'completed'),
    'filtered list returned episodes outside the filter',
    page.items.map((e) => [e.context.domain, e.status]),
  );
}

// ---- Main ----------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = options();
  const machine = describeMachine(ROOT);
  const started = new Date();
  log(`Engram benchmark — ${started.toISOString()}`);
  const rev = revision();
  log(`machine: ${machineLine(machine)}`);
  log(`service: ${rev}`);
  log(
    `settings: ${opts.connections} connections, ${opts.warmupS} s warm-up + ${opts.durationS} s per load phase, ` +
      `population ${opts.population.toLocaleString('en-US')}, scenarios ${[...opts.only].join(',')}`,
  );
  const overrides = serverEnvOverrides();
  if (overrides.length > 0) log(`server environment overrides: ${overrides.join(' ')}`);
  if (machine.loadAvg[0] > 0.5) {
    log(
      `note: the machine is busy before the run starts (load ${machine.loadAvg[0].toFixed(2)}); numbers will be noisy`,
    );
  }
  if (!existsSync(SERVER_ENTRY))
    throw new Error(`${SERVER_ENTRY} is missing: run \`npm run build\` (npm run bench does)`);

  const tmp = mkdtempSync(join(tmpdir(), 'engram-bench-'));
  const dbPath = join(tmp, 'bench.db');
  const probeFile = join(tmp, 'probe.jsonl');
  let probeLines: ProbeLine[] = [];
  const timing: LoopTiming = { durationS: Math.max(2, opts.durationS / 2), warmupS: 1 };
  const want = (s: Scenario) => opts.only.has(s);
  const needsHello = want('health') || want('get') || want('list');
  const needsPopulation = want('get') || want('list') || want('steps');
  const m: Partial<Record<string, Measurement>> = {};
  let populationIds: string[] = [];
  const notes: string[] = [];

  const loadOf = (server: ServerProcess) => async (name: string, requests: AutocannonRequest[]) => {
    log(`  ${name}: ${opts.warmupS} s warm-up + ${opts.durationS} s at ${opts.connections} connections…`);
    const result = await measureLoad({
      url: server.url,
      requests,
      connections: opts.connections,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      pid: server.pid,
    });
    describeFailures(name, result);
    if (server.exitCode() !== undefined)
      throw new Error(`the server exited (code ${server.exitCode()}) during ${name}`);
    return result;
  };

  /** Runs one step; a failure is recorded as a problem and the run goes on with the next one. */
  const attempt = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      log(`  ${name} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  try {
    // 1. The HTTP ceiling, in its own process.
    if (needsHello) {
      log('hello-world (bare fastify, own process)');
      const port = await freePort();
      const hello = await startProcess({
        args: ['--import', 'tsx', join(ROOT, 'bench', 'hello-server.ts')],
        env: { ...process.env, BENCH_PORT: String(port) },
        cwd: ROOT,
        port,
        readyPath: '/hello',
        logFile: join(tmp, 'hello.log'),
      });
      try {
        await attempt('hello-world', async () => {
          m.hello = await loadOf(hello)('hello-world', [{ method: 'GET', path: '/hello' }]);
        });
      } finally {
        await hello.stop();
      }
    }

    // 2. The service, built, on a fresh database.
    log(`engram (node dist/src/server.js, LIBSQL_URL=file:${dbPath})`);
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LIBSQL_URL: `file:${dbPath}`,
      LOG_LEVEL: 'warn',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
    };
    for (const k of ['LIBSQL_SYNC_URL', 'LIBSQL_AUTH_TOKEN', 'ENGRAM_API_KEYS', 'ENGRAM_API_KEYS_FILE'])
      delete env[k];
    const profileDir = join(RESULTS_DIR, 'profiles');
    if (opts.cpuProf) mkdirSync(profileDir, { recursive: true });
    if (opts.probe) env.BENCH_PROBE_FILE = probeFile;
    const server = await startProcess({
      args: [
        ...(opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        ...(opts.probe ? ['--import', 'tsx', '--import', join(ROOT, 'bench', 'probe.ts')] : []),
        SERVER_ENTRY,
      ],
      env,
      cwd: ROOT,
      port,
      readyPath: '/health/ready',
      logFile: join(tmp, 'server.log'),
    });
    const load = loadOf(server);
    const pick = random(42);
    try {
      if (want('health')) {
        await attempt('health', async () => {
          m.health = await load('health', [{ method: 'GET', path: '/health/live' }]);
        });
      }

      if (want('create')) {
        await attempt('episode create', async () => {
          const { before, after } = createBodyTemplate();
          await checkCreate(server.url, `${before}0${after}`);
          let n = 0;
          m.create = await load('episode create', [
            {
              method: 'POST',
              path: '/v1/episodes',
              headers: JSON_HEADERS,
              setupRequest: (req) => ({ ...req, body: before + ++n + after }),
            },
          ]);
        });
      }

      if (needsPopulation) {
        await attempt('populate', async () => {
          log(
            `  populating ${opts.population.toLocaleString('en-US')} episodes through POST /v1/episodes/batch…`,
          );
          const { ids, seconds } = await populate(server.url, opts.population);
          populationIds = ids;
          const line =
            `populated ${ids.length.toLocaleString('en-US')} episodes (${DOMAIN_COUNT} domains, half completed, no steps) ` +
            `through POST /v1/episodes/batch × ${POPULATION_BATCH}, 2 in flight: ${seconds.toFixed(1)} s, ` +
            `${Math.round(ids.length / seconds).toLocaleString('en-US')} episodes/s`;
          notes.push(line);
          log(`  ${line}`);
        });
      }
      const randomId = () => populationIds[pick(populationIds.length)] as string;

      if (want('get') && populationIds.length > 0) {
        await attempt('get by id', async () => {
          const id = randomId();
          const res = await request(`${server.url}/v1/episodes/${id}`);
          expect(
            res.status === 200 && (res.body as { id?: string }).id === id,
            'GET /v1/episodes/{id} should answer 200',
            res,
          );
          m.get = await load('get by id', [
            {
              method: 'GET',
              path: '/',
              setupRequest: (req) => ({ ...req, path: `/v1/episodes/${randomId()}` }),
            },
          ]);
        });
      }

      if (want('list') && populationIds.length > 0) {
        await attempt('filtered list', async () => {
          await checkList(server.url);
          m.list = await load('filtered list', [
            {
              method: 'GET',
              path: '/',
              setupRequest: (req) => ({
                ...req,
                path: `/v1/episodes?domain=${domainOf(pick(DOMAIN_COUNT))}&status=completed&limit=20`,
              }),
            },
          ]);
        });
      }

      if (want('steps') && populationIds.length > 0) {
        await attempt('step append', async () => {
          const body = stepBody();
          const id = randomId();
          const res = await request(`${server.url}/v1/episodes/${id}/steps`, {
            method: 'POST',
            headers: JSON_HEADERS,
            body,
          });
          expect(
            res.status === 201 && typeof (res.body as { step_number?: unknown }).step_number === 'number',
            'step append should answer 201',
            res,
          );
          m.steps = await load('step append', [
            {
              method: 'POST',
              path: '/',
              headers: JSON_HEADERS,
              body,
              setupRequest: (req) => ({ ...req, path: `/v1/episodes/${randomId()}/steps` }),
            },
          ]);
        });
      }
    } finally {
      const code = await server.stop();
      if (opts.probe) probeLines = readProbe(probeFile);
      if (opts.cpuProf) log(`  server CPU profile written to ${profileDir}`);
      if (code !== 0) problems.push(`the server exited with code ${code} on SIGTERM (expected 0)`);
      const serverErrors = readFileSync(server.logFile, 'utf8')
        .split('\n')
        .filter((l) => /"level":(50|60)/.test(l));
      if (serverErrors.length > 0) {
        problems.push(
          `the server logged ${serverErrors.length} errors, first: ${serverErrors[0]?.slice(0, 300)}`,
        );
      }
    }

    // 3. In-process baselines: the same SQL (recorded from the service's repository), no HTTP.
    log(`baselines (in-process, ${timing.durationS} s each after ${timing.warmupS} s warm-up)`);
    const schema = schemaStatements();
    if (want('create')) {
      const { before, after } = createBodyTemplate();
      const episode = await episodeCreateStatements(before + SENTINEL + after);
      await attempt('direct create', async () => {
        log('  @libsql/client: one batch(…, "write") per episode…');
        m.directCreate = await directCreate(join(tmp, 'direct-create.db'), schema, episode, timing);
      });
      await attempt('raw create', async () => {
        log(`  libsql raw: ${RAW_PER_TRANSACTION} episodes per transaction…`);
        m.rawCreate = await rawGroupedCreate(
          join(tmp, 'raw-create.db'),
          schema,
          episode,
          RAW_PER_TRANSACTION,
          timing,
        );
      });
    }
    const readPick = random(7);
    if (want('get') && populationIds.length > 0) {
      const read = await getByIdStatement();
      const id = () => populationIds[readPick(populationIds.length)] as string;
      await attempt('direct get', async () => {
        log('  @libsql/client: get by id…');
        m.directGet = await directRead(dbPath, read, id, timing);
      });
      await attempt('raw get', async () => {
        log('  libsql raw: get by id…');
        m.rawGet = await rawRead(dbPath, read, id, timing);
      });
    }
    if (want('list') && populationIds.length > 0) {
      const read = await filteredListStatement();
      const domain = () => domainOf(readPick(DOMAIN_COUNT));
      await attempt('direct list', async () => {
        log('  @libsql/client: filtered list…');
        m.directList = await directRead(dbPath, read, domain, timing);
      });
      await attempt('raw list', async () => {
        log('  libsql raw: filtered list…');
        m.rawList = await rawRead(dbPath, read, domain, timing);
      });
    }
  } finally {
    if (opts.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }

  // 4. The table.
  const ratio = (a: Measurement | undefined, b: Measurement | undefined) => (a && b ? a.rate / b.rate : null);
  // The same comparison by server CPU per request: what the ratio would be if both had the same CPU,
  // which a busy machine does not guarantee.
  const perCpu = (a: Measurement | undefined, b: Measurement | undefined) =>
    a?.cpu.server && b?.cpu.server ? a.rate / a.cpu.server / (b.rate / b.cpu.server) : null;
  const byCpu = 'hello-world, per server CPU-second';
  const conns = `${opts.connections} conns`;
  const rows: TableRow[] = [];
  const add = (
    on: boolean,
    scenario: string,
    load: string,
    measured: Measurement | undefined,
    checks: Check[] = [],
  ) => {
    if (on) rows.push({ scenario, load, m: measured ?? null, checks });
  };
  add(needsHello, 'hello-world (own process)', conns, m.hello);
  add(want('health'), 'health: GET /health/live', conns, m.health, [
    { label: 'hello-world', value: ratio(m.health, m.hello) },
    { label: byCpu, value: perCpu(m.health, m.hello) },
  ]);
  add(want('create'), 'episode create: POST /v1/episodes', conns, m.create, [
    {
      label: 'direct batch/episode',
      value: ratio(m.create, m.directCreate),
      target: { op: '>=', value: 2.5, unit: '×' },
    },
    {
      label: `raw ${RAW_PER_TRANSACTION}/txn`,
      value: ratio(m.create, m.rawCreate),
      target: { op: '>=', value: 0.5, unit: '×' },
    },
    { label: 'p99', value: m.create?.p99 ?? null, target: { op: '<=', value: 50, unit: 'ms' } },
  ]);
  add(want('create'), '↳ baseline: @libsql/client batch per episode', 'sequential', m.directCreate);
  add(
    want('create'),
    `↳ baseline: libsql raw, ${RAW_PER_TRANSACTION} episodes/txn`,
    'sequential',
    m.rawCreate,
  );
  add(want('get'), 'get by id: GET /v1/episodes/{id}', conns, m.get, [
    { label: 'hello-world', value: ratio(m.get, m.hello), target: { op: '>=', value: 0.4, unit: '×' } },
    { label: byCpu, value: perCpu(m.get, m.hello) },
    { label: 'direct client execute', value: ratio(m.get, m.directGet) },
    { label: 'raw prepared', value: ratio(m.get, m.rawGet) },
  ]);
  add(want('get'), '↳ baseline: @libsql/client execute', 'sequential', m.directGet);
  add(want('get'), '↳ baseline: libsql raw prepared', 'sequential', m.rawGet);
  add(want('list'), 'filtered list: GET /v1/episodes?domain&status&limit=20', conns, m.list, [
    { label: 'hello-world', value: ratio(m.list, m.hello), target: { op: '>=', value: 0.1, unit: '×' } },
    { label: byCpu, value: perCpu(m.list, m.hello) },
    { label: 'direct client execute', value: ratio(m.list, m.directList) },
    { label: 'raw prepared', value: ratio(m.list, m.rawList) },
  ]);
  add(want('list'), '↳ baseline: @libsql/client execute', 'sequential', m.directList);
  add(want('list'), '↳ baseline: libsql raw prepared', 'sequential', m.rawList);
  add(want('steps'), 'step append: POST /v1/episodes/{id}/steps', conns, m.steps, [
    { label: 'episode create', value: ratio(m.steps, m.create), target: { op: '>=', value: 1, unit: '×' } },
  ]);

  const { pass, miss, na } = tally(rows);
  const loadEnd = loadavg()[0] ?? 0;
  const summary = `targets: ${pass} PASS, ${miss} MISS${na > 0 ? `, ${na} not measured` : ''}`;
  const phases = (
    [
      ['health', m.health],
      ['episode create', m.create],
      ['get by id', m.get],
      ['filtered list', m.list],
      ['step append', m.steps],
    ] as const
  ).flatMap(([scenario, x]) =>
    x ? [{ scenario, startedAt: x.startedAt, finishedAt: x.finishedAt, requests: x.count }] : [],
  );
  const probed = opts.probe ? probeRows(probeLines, phases) : [];
  const probeNote =
    'Server probe (bench/probe.ts, measured phases only): "in SQL" is the time inside the libsql driver ' +
    '(statements and BEGIN / SAVEPOINT / RELEASE / COMMIT, fsync included) as a share of wall time, on the main ' +
    'thread (time the event loop cannot serve HTTP) and on other threads (a writer thread, if any).';
  log('');
  log(consoleTable(rows));
  if (opts.probe) {
    log('');
    log(textTable(PROBE_HEADER, probed, new Set([1, 2, 4, 5, 6])));
    log(probeNote);
  }
  log('');
  for (const n of notes) log(n);
  log(
    'req/s: completed requests (service, hello-world) or episodes / reads per second (baselines); latencies per request ' +
      `or per operation (per transaction for the ${RAW_PER_TRANSACTION}/txn baseline). CPU in cores: server (its main thread) / this process / all other processes; ` +
      'CPU µs/req: server CPU per request (in-process baselines: their own CPU per episode or read).',
  );
  log(`${summary}; load average at the end ${loadEnd.toFixed(2)}`);
  if (problems.length > 0) {
    log('');
    log('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
    log(`!!! THIS RUN HAD ${problems.length} ERROR(S): its numbers are not trustworthy`);
    for (const p of problems) log(`!!! - ${p}`);
    log('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
  }

  const markdown = [
    `# Engram benchmark — ${started.toISOString()}`,
    '',
    `- Machine: ${machineLine(machine)}; load average at the end ${loadEnd.toFixed(2)}`,
    `- Service: commit ${rev}`,
    `- Settings: ${opts.connections} connections, ${opts.warmupS} s warm-up + ${opts.durationS} s per load phase; ` +
      `in-process baselines ${timing.warmupS} s + ${timing.durationS} s; scenarios ${[...opts.only].join(', ')}`,
    ...(overrides.length > 0 ? [`- Server environment overrides: \`${overrides.join(' ')}\``] : []),
    ...notes.map((n) => `- ${n[0]?.toUpperCase()}${n.slice(1)}`),
    `- ${summary}`,
    '',
    markdownTable(rows),
    '',
    ...(opts.probe ? [mdTable(PROBE_HEADER, probed, new Set([1, 2, 4, 5, 6])), '', probeNote, ''] : []),
    'req/s: completed requests (service, hello-world) or episodes / reads per second (baselines). Latencies per request, ' +
      `or per operation for the in-process baselines (per transaction of ${RAW_PER_TRANSACTION} for the raw create). ` +
      'RSS: largest VmRSS of the server process. ' +
      'CPU (cores): server, all threads (its main thread, the event loop) / load generator or baseline process / every other process on the machine. ' +
      'CPU µs/req: server CPU per request (in-process baselines: their own CPU per episode or read). ' +
      '"per server CPU-second": the ratio of requests per second of server CPU, less sensitive to other load than req/s.',
    '',
    problems.length > 0
      ? `**THIS RUN HAD ${problems.length} ERROR(S):**\n\n${problems.map((p) => `- ${p}`).join('\n')}`
      : 'No errors: every response was 2xx.',
    '',
  ].join('\n');
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  log(`written bench/results/latest.md`);
  return problems.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
