import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AutocannonRequest } from 'autocannon';
import { freePort } from '../test/helpers/ports.js';
import { populateAnalytics } from './analytics.js';
import { directCreate, directRead, type LoopTiming, rawGroupedCreate, rawRead } from './baselines.js';
import {
  episodeCreateStatements,
  filteredListStatement,
  getByIdStatement,
  SENTINEL,
  schemaStatements,
  withoutClaim,
} from './capture.js';
import { type Measurement, measureLoad } from './load.js';
import type { ProbeLine } from './probe.js';
import { PROBE_HEADER, probeRows, readProbe } from './probe-report.js';
import { type ServerProcess, startProcess } from './processes.js';
import {
  type Check,
  consoleTable,
  describeMachine,
  type Machine,
  machineLine,
  markdownTable,
  mdTable,
  type TableRow,
  tally,
  textTable,
} from './report.js';
import {
  ANALYTICS_CONNECTIONS,
  analytics,
  type Drive,
  episodeCreate,
  filteredList,
  getById,
  HEAVY_CONNECTIONS,
  health,
  isolation,
  POINT_READ_CONNECTIONS,
  POPULATION_BATCH,
  patterns,
  populate,
  random,
  SCENARIOS,
  type Scenario,
  stepAppend,
} from './scenarios.js';
import {
  populateSpatiotemporal,
  rawSearch,
  SPATIOTEMPORAL_POPULATION,
  searchBodies,
  searchRequests,
  TIMELINE_PATH,
} from './spatiotemporal.js';
import { vectors } from './vectors.js';
import { createBodyTemplate, DOMAIN_COUNT, domainOf, episodeWithSteps, STEPS_DOMAIN } from './workload.js';

// `npm run bench [-- --only create,get --duration 5]`: the built service against baselines measured in
// the same run, one table (bench/README.md).

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_ENTRY = join(ROOT, 'dist', 'src', 'server.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'profiles');
const RAW_PER_TRANSACTION = 32;

// ---- Options -------------------------------------------------------------------------------------------

const USAGE = `usage: npm run bench -- [--only ${SCENARIOS.join(',')}] [--duration S] [--warmup S]
                        [--connections N] [--population N] [--keep] [--cpu-prof] [--probe]
                        [--vector-population N] [--vector-index-wait S] [--vectors-db FILE]
  --only         scenarios to run (default: all); their baselines run with them
  --duration     seconds of each measured load phase (default 10; in-process baselines run half as long)
  --warmup       seconds of warm-up before each load phase (default 3)
  --connections  concurrent connections of every load phase (default 64)
  --population   episodes pre-populated for get / list / steps (default 100000)
  --spatiotemporal-population  located episodes of the spatiotemporal scenario (default 1000000)
  --spatiotemporal-db  a database the scenario populated before (kept with --keep): used instead of a new one
  --vector-population  vectors of the vectors scenario (default 100000; 384-d, clustered, seeded)
  --vector-index-wait  seconds the vectors scenario waits for the index to catch up (default 3600)
  --vectors-db   a database the vectors scenario populated before (kept with --keep, same --vector-population):
                 the service runs on it and the scenario measures searches, recall and size only, not ingestion
  --keep         keep the temporary directory (databases, server log)
  --cpu-prof     run the server under node --cpu-prof; the profile goes to bench/results/profiles/
                 (summarise it with: node --import tsx bench/profile-summary.ts <file> [--last S])
  --probe        preload bench/probe.ts into the server: time in SQL, COMMIT and group sizes,
                 event-loop delay per scenario (a second table)`;

type Options = ReturnType<typeof options>;

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
      population: { type: 'string', default: '100000' },
      'spatiotemporal-population': { type: 'string', default: String(SPATIOTEMPORAL_POPULATION) },
      'spatiotemporal-db': { type: 'string' },
      'vector-population': { type: 'string', default: '100000' },
      'vector-index-wait': { type: 'string', default: '3600' },
      'vectors-db': { type: 'string' },
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
  const atLeast = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const only = (values.only ?? SCENARIOS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (only.length === 0 || only.some((s) => !(SCENARIOS as readonly string[]).includes(s))) {
    throw new Error(
      `--only takes a comma-separated list of ${SCENARIOS.join(', ')}; got ${JSON.stringify(values.only)}`,
    );
  }
  if (values['vectors-db'] !== undefined && (only.length !== 1 || only[0] !== 'vectors'))
    throw new Error('--vectors-db goes with --only vectors (the other scenarios would write into it)');
  const durationS = atLeast('duration', values.duration, 1);
  return {
    only: new Set(only as Scenario[]),
    durationS,
    warmupS: atLeast('warmup', values.warmup, 0),
    connections: Math.trunc(atLeast('connections', values.connections, 1)),
    population: Math.trunc(atLeast('population', values.population, POPULATION_BATCH)),
    spatiotemporalDb: values['spatiotemporal-db'],
    spatiotemporalPopulation: Math.trunc(
      atLeast('spatiotemporal-population', values['spatiotemporal-population'], 1000),
    ),
    vectorPopulation: Math.trunc(atLeast('vector-population', values['vector-population'], POPULATION_BATCH)),
    vectorIndexWaitS: atLeast('vector-index-wait', values['vector-index-wait'], 0),
    vectorsDb: values['vectors-db'],
    keep: values.keep,
    cpuProf: values['cpu-prof'],
    probe: values.probe,
    /** In-process baselines: half the load phase, after a 1 s warm-up. */
    loop: { durationS: Math.max(2, durationS / 2), warmupS: 1 } satisfies LoopTiming,
  };
}

// ---- State of one run ----------------------------------------------------------------------------------

type Key =
  | 'hello'
  | 'health'
  | 'create'
  | 'get'
  | 'list'
  | 'steps'
  | 'pointAlone'
  | 'pointBeside'
  | 'heavy'
  | 'directCreate'
  | 'rawCreate'
  | 'rawCreateUnclaimed'
  | 'directGet'
  | 'rawGet'
  | 'directList'
  | 'rawList'
  | 'stRadius'
  | 'stBbox'
  | 'stTimeline'
  | 'stRadiusAlone'
  | 'stBboxAlone'
  | 'stTimelineAlone'
  | 'rawStRadius'
  | 'rawStBbox'
  | 'patternCreate'
  | 'patternList'
  | 'patternApply'
  | 'stats'
  | 'sequences'
  | 'recoveries';

interface Run {
  opts: Options;
  tmp: string;
  dbPath: string;
  probeFile: string;
  m: Partial<Record<Key, Measurement>>;
  populationIds: string[];
  notes: string[];
  probeLines: ProbeLine[];
  /** The vectors scenario's section of the report (its own table). */
  vectorLines: string[];
  /** Everything that went wrong; any entry makes the run fail loudly. */
  problems: string[];
}

const log = (line: string) => console.log(line);
const want = (run: Run, s: Scenario) => run.opts.only.has(s);
const needsHello = (run: Run) =>
  want(run, 'health') ||
  want(run, 'get') ||
  want(run, 'list') ||
  want(run, 'patterns') ||
  want(run, 'stats') ||
  want(run, 'spatiotemporal') ||
  want(run, 'vectors');
const needsPopulation = (run: Run) =>
  want(run, 'get') || want(run, 'list') || want(run, 'steps') || want(run, 'isolation');
/** Episodes with steps listed by the isolation scenario (in their own domain). */
const EPISODES_WITH_STEPS = 1_000;
/** Steps of each episode of the analytics population (issue 10: 100,000 episodes / 1,000,000 steps). */
const ANALYTICS_STEPS_PER_EPISODE = 10;

/** Runs one step; a failure is recorded as a problem and the run goes on with the next step. */
async function attempt(run: Run, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    run.problems.push(`${name}: ${message}`);
    log(`  ${name} FAILED: ${message}`);
  }
}

/** A load phase against `server` with the run's settings; non-2xx responses become problems. */
function driver(run: Run, server: ServerProcess): Drive {
  const { opts } = run;
  return async (name: string, requests: AutocannonRequest[], connections = opts.connections) => {
    log(`  ${name}: ${opts.warmupS} s warm-up + ${opts.durationS} s at ${connections} connections…`);
    const m = await measureLoad({
      url: server.url,
      requests,
      connections,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      pid: server.pid,
    });
    if (m.failures + m.warmupFailures > 0) {
      const codes = Object.entries(m.statuses)
        .filter(([code]) => !code.startsWith('2'))
        .map(([code, n]) => `${n}× ${code}`);
      const what = [...codes, `${m.errors} connection errors`, `${m.timeouts} timeouts`].join(', ');
      run.problems.push(
        `${name}: ${m.failures} failed in the measured phase (${what}), ${m.warmupFailures} in warm-up`,
      );
    }
    if (server.exitCode() !== undefined)
      throw new Error(`the server exited (code ${server.exitCode()}) during ${name}`);
    return m;
  };
}

// ---- Phases --------------------------------------------------------------------------------------------

/** The HTTP ceiling: bare fastify in its own process, driven like the service. */
async function runHello(run: Run): Promise<void> {
  log('hello-world (bare fastify, own process)');
  const port = await freePort();
  const hello = await startProcess({
    args: ['--import', 'tsx', join(ROOT, 'bench', 'hello-server.ts')],
    env: { ...process.env, BENCH_PORT: String(port) },
    cwd: ROOT,
    port,
    readyPath: '/hello',
    logFile: join(run.tmp, 'hello.log'),
  });
  try {
    await attempt(run, 'hello-world', async () => {
      run.m.hello = await driver(run, hello)('hello-world', [{ method: 'GET', path: '/hello' }]);
    });
  } finally {
    await hello.stop();
  }
}

/** The built service on the database file `dbPath`. */
async function startService(run: Run, dbPath: string, logName: string): Promise<ServerProcess> {
  const { opts } = run;
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
  if (opts.probe) env.BENCH_PROBE_FILE = run.probeFile;
  if (opts.cpuProf) mkdirSync(PROFILE_DIR, { recursive: true });
  return startProcess({
    args: [
      ...(opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
      ...(opts.probe ? ['--import', 'tsx', '--import', join(ROOT, 'bench', 'probe.ts')] : []),
      SERVER_ENTRY,
    ],
    env,
    cwd: ROOT,
    port,
    readyPath: '/health/ready',
    logFile: join(run.tmp, logName),
  });
}

/** SIGTERM (which must exit 0); errors the server logged become problems. */
async function stopService(run: Run, server: ServerProcess): Promise<void> {
  const code = await server.stop();
  if (code !== 0) run.problems.push(`the server exited with code ${code} on SIGTERM (expected 0)`);
  const errors = readFileSync(server.logFile, 'utf8')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));
  if (errors.length > 0) {
    run.problems.push(`the server logged ${errors.length} errors, first: ${errors[0]?.slice(0, 300)}`);
  }
}

/** The built service on a fresh database: every selected scenario, then SIGTERM (which must exit 0). */
async function runService(run: Run): Promise<void> {
  const { opts } = run;
  const server = await startService(run, run.dbPath, 'server.log');
  const drive = driver(run, server);
  const pick = random(42);
  const randomId = () => run.populationIds[pick(run.populationIds.length)] as string;
  const populated = () => run.populationIds.length > 0;
  try {
    if (want(run, 'health')) {
      await attempt(run, 'health', async () => {
        run.m.health = await health(drive);
      });
    }
    // On the empty database, like the fresh files of its baselines.
    if (want(run, 'create')) {
      await attempt(run, 'episode create', async () => {
        run.m.create = await episodeCreate(server.url, drive);
      });
    }
    if (needsPopulation(run)) {
      await attempt(run, 'populate', async () => {
        log(
          `  populating ${opts.population.toLocaleString('en-US')} episodes through POST /v1/episodes/batch…`,
        );
        const { ids, seconds } = await populate(server.url, opts.population);
        run.populationIds = ids;
        const line =
          `populated ${ids.length.toLocaleString('en-US')} episodes (${DOMAIN_COUNT} domains, half completed, ` +
          `no steps) through POST /v1/episodes/batch × ${POPULATION_BATCH}, 2 in flight: ${seconds.toFixed(1)} s, ` +
          `${Math.round(ids.length / seconds).toLocaleString('en-US')} episodes/s`;
        run.notes.push(line);
        log(`  ${line}`);
      });
    }
    if (want(run, 'get') && populated()) {
      await attempt(run, 'get by id', async () => {
        run.m.get = await getById(server.url, drive, randomId);
      });
    }
    if (want(run, 'list') && populated()) {
      await attempt(run, 'filtered list', async () => {
        run.m.list = await filteredList(server.url, drive, pick);
      });
    }
    // Before the step appends, which would give the population steps of their own.
    if (want(run, 'isolation') && populated()) {
      await attempt(run, 'isolation', async () => {
        const { seconds } = await populate(server.url, EPISODES_WITH_STEPS, episodeWithSteps);
        log(
          `  populated ${EPISODES_WITH_STEPS} episodes with steps (${STEPS_DOMAIN}) in ${seconds.toFixed(1)} s`,
        );
        const { alone, beside, heavy } = await isolation(server.url, drive, randomId);
        Object.assign(run.m, { pointAlone: alone, pointBeside: beside, heavy });
      });
    }
    if (want(run, 'vectors')) {
      await attempt(run, 'vectors', async () => {
        const report = await vectors(server.url, {
          population: opts.vectorPopulation,
          durationS: opts.durationS,
          indexWaitS: opts.vectorIndexWaitS,
          dbPath: run.dbPath,
          reused: opts.vectorsDb !== undefined,
        });
        run.vectorLines = report.lines;
        run.problems.push(...report.problems.slice(0, 10));
      });
    }
    if (want(run, 'steps') && populated()) {
      await attempt(run, 'step append', async () => {
        run.m.steps = await stepAppend(server.url, drive, randomId);
      });
    }
    if (want(run, 'patterns')) {
      await attempt(run, 'patterns', async () => {
        const { create, list, apply } = await patterns(server.url, drive, pick);
        Object.assign(run.m, { patternCreate: create, patternList: list, patternApply: apply });
      });
    }
    if (want(run, 'stats')) {
      await attempt(run, 'stats', async () => {
        const steps = opts.population * ANALYTICS_STEPS_PER_EPISODE;
        const seconds = populateAnalytics(run.dbPath, opts.population, ANALYTICS_STEPS_PER_EPISODE);
        const line =
          `analytics population: ${opts.population.toLocaleString('en-US')} episodes (¾ completed) with ` +
          `${steps.toLocaleString('en-US')} steps written by direct SQL in the bench process ` +
          `(bench/analytics.ts, one transaction, the stats and suggestion triggers firing): ${seconds.toFixed(1)} s`;
        run.notes.push(line);
        log(`  ${line}`);
        await analytics(server.url, drive, opts.population, (what, measured) => {
          run.m[what] = measured;
        });
      });
    }
  } finally {
    await stopService(run, server);
    if (opts.probe) run.probeLines = readProbe(run.probeFile);
    if (opts.cpuProf) log(`  server CPU profile written to ${PROFILE_DIR}`);
  }
}

/**
 * Connections of the spatiotemporal phases. The latency targets are per query: each phase runs with one
 * connection (a query's own latency) and with four (queries queueing for the 2 cores).
 */
const SPATIOTEMPORAL_CONNECTIONS = 4;
/** Distinct searches each phase cycles through. */
const SEARCHES = 500;

/** Issue 12.7: its own 1M-episode database, the searches and the timeline over HTTP, then the raw SQL. */
async function runSpatiotemporal(run: Run): Promise<void> {
  const path = run.opts.spatiotemporalDb ?? join(run.tmp, 'spatiotemporal.db');
  await attempt(run, 'spatiotemporal', async () => {
    const n = run.opts.spatiotemporalPopulation;
    if (run.opts.spatiotemporalDb) {
      run.notes.push(`spatiotemporal: the database populated before at ${path}`);
    } else {
      log(`spatiotemporal: populating ${n.toLocaleString('en-US')} episodes with direct SQL…`);
      const { seconds, phases } = await populateSpatiotemporal(path, n);
      const phase = Object.entries(phases).map(([name, s]) => `${name} ${s.toFixed(1)} s`);
      run.notes.push(
        `spatiotemporal: ${n.toLocaleString('en-US')} located episodes over a year (80% around ${200} cities), written with direct SQL in ${seconds.toFixed(1)} s (${phase.join(', ')})`,
      );
    }
    const server = await startService(run, path, 'server-spatiotemporal.log');
    try {
      const drive = driver(run, server);
      const radius = searchRequests(searchBodies('radius', SEARCHES));
      const bbox = searchRequests(searchBodies('bbox', SEARCHES));
      const timeline: AutocannonRequest[] = [{ method: 'GET', path: TIMELINE_PATH }];
      run.m.stRadiusAlone = await drive('radius 10 km + 7 days', radius, 1);
      run.m.stRadius = await drive('radius 10 km + 7 days', radius, SPATIOTEMPORAL_CONNECTIONS);
      run.m.stBboxAlone = await drive('bbox ±0.5° + 30 days', bbox, 1);
      run.m.stBbox = await drive('bbox ±0.5° + 30 days', bbox, SPATIOTEMPORAL_CONNECTIONS);
      run.m.stTimelineAlone = await drive('timeline by day over a year', timeline, 1);
      run.m.stTimeline = await drive('timeline by day over a year', timeline, SPATIOTEMPORAL_CONNECTIONS);
    } finally {
      await stopService(run, server);
    }
    log('  raw SQL of the searches, in-process…');
    run.m.rawStRadius = await rawSearch(path, searchBodies('radius', SEARCHES), run.opts.loop);
    run.m.rawStBbox = await rawSearch(path, searchBodies('bbox', SEARCHES), run.opts.loop);
  });
}

/** In-process baselines: the same SQL (recorded from the service's repository), no HTTP. */
async function runBaselines(run: Run): Promise<void> {
  const { opts, m } = run;
  log(`baselines (in-process, ${opts.loop.durationS} s each after ${opts.loop.warmupS} s warm-up)`);
  if (want(run, 'create')) {
    const schema = schemaStatements();
    const { before, after } = createBodyTemplate();
    const episode = await episodeCreateStatements(before + SENTINEL + after);
    await attempt(run, 'direct create', async () => {
      log('  @libsql/client: one batch(…, "write") per episode…');
      m.directCreate = await directCreate(join(run.tmp, 'direct-create.db'), schema, episode, opts.loop);
    });
    await attempt(run, 'raw create', async () => {
      log(`  libsql raw: ${RAW_PER_TRANSACTION} episodes per transaction…`);
      const path = join(run.tmp, 'raw-create.db');
      m.rawCreate = await rawGroupedCreate(path, schema, episode, RAW_PER_TRANSACTION, opts.loop);
    });
    await attempt(run, 'raw create without the claim', async () => {
      log(`  libsql raw: ${RAW_PER_TRANSACTION} episodes per transaction, without the write claim…`);
      const path = join(run.tmp, 'raw-create-unclaimed.db');
      const unclaimed = withoutClaim(episode);
      m.rawCreateUnclaimed = await rawGroupedCreate(path, schema, unclaimed, RAW_PER_TRANSACTION, opts.loop);
    });
  }
  // The reads run on the service's own file, after it stopped: the same 100,000+ episodes.
  const pick = random(7);
  if (want(run, 'get') && run.populationIds.length > 0) {
    const read = await getByIdStatement();
    const id = () => run.populationIds[pick(run.populationIds.length)] as string;
    await attempt(run, 'direct get', async () => {
      log('  @libsql/client: get by id…');
      m.directGet = await directRead(run.dbPath, read, id, opts.loop);
    });
    await attempt(run, 'raw get', async () => {
      log('  libsql raw: get by id…');
      m.rawGet = await rawRead(run.dbPath, read, id, opts.loop);
    });
  }
  if (want(run, 'list') && run.populationIds.length > 0) {
    const read = await filteredListStatement();
    const domain = () => domainOf(pick(DOMAIN_COUNT));
    await attempt(run, 'direct list', async () => {
      log('  @libsql/client: filtered list…');
      m.directList = await directRead(run.dbPath, read, domain, opts.loop);
    });
    await attempt(run, 'raw list', async () => {
      log('  libsql raw: filtered list…');
      m.rawList = await rawRead(run.dbPath, read, domain, opts.loop);
    });
  }
}

// ---- The table -----------------------------------------------------------------------------------------

function tableRows(run: Run): TableRow[] {
  const { m } = run;
  const ratio = (a: Measurement | undefined, b: Measurement | undefined) => (a && b ? a.rate / b.rate : null);
  // The same comparison by server CPU: what the ratio would be if both got the same CPU, which a busy
  // machine does not guarantee.
  const perCpu = (a: Measurement | undefined, b: Measurement | undefined) =>
    a?.cpu.server && b?.cpu.server ? a.rate / a.cpu.server / (b.rate / b.cpu.server) : null;
  const byCpu = 'hello-world, per server CPU-second';
  const atLeast = (value: number) => ({ op: '>=', value, unit: '×' }) as const;
  const conns = `${run.opts.connections} conns`;
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
  const raw = `libsql raw, ${RAW_PER_TRANSACTION} episodes/txn`;
  add(needsHello(run), 'hello-world (own process)', conns, m.hello);
  add(want(run, 'health'), 'health: GET /health/live', conns, m.health, [
    { label: 'hello-world', value: ratio(m.health, m.hello) },
    { label: byCpu, value: perCpu(m.health, m.hello) },
  ]);
  add(want(run, 'create'), 'episode create: POST /v1/episodes', conns, m.create, [
    { label: 'direct batch/episode', value: ratio(m.create, m.directCreate), target: atLeast(2.5) },
    { label: `raw ${RAW_PER_TRANSACTION}/txn`, value: ratio(m.create, m.rawCreate), target: atLeast(0.5) },
    { label: 'p99', value: m.create?.p99 ?? null, target: { op: '<=', value: 50, unit: 'ms' } },
  ]);
  add(want(run, 'create'), '↳ baseline: @libsql/client batch per episode', 'sequential', m.directCreate);
  add(want(run, 'create'), `↳ baseline: ${raw}`, 'sequential', m.rawCreate, [
    { label: 'the same without the write claim', value: ratio(m.rawCreate, m.rawCreateUnclaimed) },
  ]);
  add(want(run, 'create'), `↳ baseline: ${raw}, without the write claim`, 'sequential', m.rawCreateUnclaimed);
  add(want(run, 'get'), 'get by id: GET /v1/episodes/{id}', conns, m.get, [
    { label: 'hello-world', value: ratio(m.get, m.hello), target: atLeast(0.4) },
    { label: byCpu, value: perCpu(m.get, m.hello) },
    { label: 'direct client execute', value: ratio(m.get, m.directGet) },
    { label: 'raw prepared', value: ratio(m.get, m.rawGet) },
  ]);
  add(want(run, 'get'), '↳ baseline: @libsql/client execute', 'sequential', m.directGet);
  add(want(run, 'get'), '↳ baseline: libsql raw prepared', 'sequential', m.rawGet);
  add(want(run, 'list'), 'filtered list: GET /v1/episodes?domain&status&limit=20', conns, m.list, [
    { label: 'hello-world', value: ratio(m.list, m.hello), target: atLeast(0.1) },
    { label: byCpu, value: perCpu(m.list, m.hello) },
    { label: 'direct client execute', value: ratio(m.list, m.directList) },
    { label: 'raw prepared', value: ratio(m.list, m.rawList) },
  ]);
  add(want(run, 'list'), '↳ baseline: @libsql/client execute', 'sequential', m.directList);
  add(want(run, 'list'), '↳ baseline: libsql raw prepared', 'sequential', m.rawList);
  add(want(run, 'steps'), 'step append: POST /v1/episodes/{id}/steps', conns, m.steps, [
    { label: 'episode create', value: ratio(m.steps, m.create), target: atLeast(1) },
  ]);
  const points = `${POINT_READ_CONNECTIONS} conns`;
  add(want(run, 'isolation'), 'point reads alone: GET /v1/episodes/{id}', points, m.pointAlone);
  add(want(run, 'isolation'), 'point reads beside 4 heavy lists', points, m.pointBeside, [
    { label: 'point reads alone', value: ratio(m.pointBeside, m.pointAlone), target: atLeast(0.5) },
    {
      label: 'p99 vs alone',
      value: m.pointBeside && m.pointAlone ? m.pointBeside.p99 / m.pointAlone.p99 : null,
      target: { op: '<=', value: 5, unit: '×' },
    },
  ]);
  add(
    want(run, 'isolation'),
    `↳ heavy: GET /v1/episodes?include=steps&limit=200 (${STEPS_DOMAIN})`,
    `${HEAVY_CONNECTIONS} conns`,
    m.heavy,
  );
  add(want(run, 'patterns'), 'pattern create: POST /v1/patterns', conns, m.patternCreate, [
    { label: 'hello-world', value: ratio(m.patternCreate, m.hello) },
    { label: 'episode create', value: ratio(m.patternCreate, m.create) },
  ]);
  add(want(run, 'patterns'), 'pattern list: GET /v1/patterns?kind&domain&limit=20', conns, m.patternList, [
    { label: 'hello-world', value: ratio(m.patternList, m.hello) },
    { label: byCpu, value: perCpu(m.patternList, m.hello) },
    { label: 'episode list', value: ratio(m.patternList, m.list) },
  ]);
  add(want(run, 'patterns'), 'application: POST /v1/patterns/{id}/applications', conns, m.patternApply, [
    { label: 'pattern create', value: ratio(m.patternApply, m.patternCreate) },
  ]);
  const heavy = `${ANALYTICS_CONNECTIONS} conns`;
  const p95 = (measured: Measurement | undefined, ms: number): Check => ({
    label: 'p95',
    value: measured?.p95 ?? null,
    target: { op: '<=', value: ms, unit: 'ms' },
  });
  add(want(run, 'stats'), 'stats: GET /v1/stats', heavy, m.stats, [
    p95(m.stats, 50),
    { label: 'hello-world', value: ratio(m.stats, m.hello) },
  ]);
  add(want(run, 'stats'), 'suggestions: kind=tool_sequence', heavy, m.sequences, [
    p95(m.sequences, 200),
    { label: 'stats', value: ratio(m.sequences, m.stats) },
  ]);
  add(want(run, 'stats'), 'suggestions: kind=error_recovery', heavy, m.recoveries, [
    p95(m.recoveries, 200),
    { label: 'stats', value: ratio(m.recoveries, m.stats) },
  ]);
  const st = want(run, 'spatiotemporal');
  const stConns = `${SPATIOTEMPORAL_CONNECTIONS} conns`;
  add(st, 'spatiotemporal search: radius 10 km + 7 days, limit 50', '1 conn', m.stRadiusAlone, [
    p95(m.stRadiusAlone, 10),
    { label: 'raw SQL', value: ratio(m.stRadiusAlone, m.rawStRadius) },
  ]);
  add(st, '↳ the same', stConns, m.stRadius, [p95(m.stRadius, 10)]);
  add(st, '↳ baseline: its SQL, libsql raw prepared', 'sequential', m.rawStRadius);
  add(st, 'spatiotemporal search: bbox ±0.5° + 30 days, limit 50', '1 conn', m.stBboxAlone, [
    p95(m.stBboxAlone, 10),
    { label: 'raw SQL', value: ratio(m.stBboxAlone, m.rawStBbox) },
  ]);
  add(st, '↳ the same', stConns, m.stBbox, [p95(m.stBbox, 10)]);
  add(st, '↳ baseline: its SQL, libsql raw prepared', 'sequential', m.rawStBbox);
  add(st, 'timeline: GET /v1/spatiotemporal/timeline?bucket=day, a year', '1 conn', m.stTimelineAlone, [
    p95(m.stTimelineAlone, 50),
  ]);
  add(st, '↳ the same', stConns, m.stTimeline, [p95(m.stTimeline, 50)]);
  return rows;
}

const PROBE_NUMERIC = new Set([1, 2, 4, 5, 6]);
const PROBE_NOTE =
  'Server probe (bench/probe.ts, measured phases only): "in SQL" is the time inside the libsql driver ' +
  '(statements and BEGIN / SAVEPOINT / RELEASE / COMMIT, fsync included) as a share of wall time, on the main ' +
  'thread (time the event loop cannot serve HTTP) and on other threads (a writer thread, if any).';
const LEGEND =
  'req/s: completed requests (service, hello-world), or episodes / reads per second (in-process baselines). ' +
  'Latencies per request, or per operation for the in-process baselines (per transaction of ' +
  `${RAW_PER_TRANSACTION} episodes for the raw create). RSS: largest VmRSS of the server process. ` +
  'CPU (cores): the server, all threads (its main thread, the event loop) / this process (load generator, or the ' +
  'baseline itself) / every other process on the machine, i.e. noise. CPU µs/req: server CPU per request (in-process ' +
  'baselines: their own CPU per episode or read). "per server CPU-second": the ratio of requests per second of ' +
  'server CPU, much less sensitive to other load than req/s.';

function probeTable(run: Run): string[][] {
  const { m } = run;
  const phases = (
    [
      ['health', m.health],
      ['episode create', m.create],
      ['get by id', m.get],
      ['filtered list', m.list],
      ['step append', m.steps],
      ['point reads alone', m.pointAlone],
      ['point reads beside heavy lists', m.pointBeside],
    ] as const
  ).flatMap(([scenario, x]) =>
    x ? [{ scenario, startedAt: x.startedAt, finishedAt: x.finishedAt, requests: x.count }] : [],
  );
  return probeRows(run.probeLines, phases);
}

/** The commit under test, and whether the service's sources differ from it (others edit the tree too). */
function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src', 'routes', 'package.json');
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

function report(run: Run, machine: Machine, started: Date, rev: string): void {
  const { opts, problems } = run;
  const rows = tableRows(run);
  const probed = opts.probe ? probeTable(run) : [];
  const { pass, miss, na } = tally(rows);
  const loadEnd = loadavg()[0] ?? 0;
  const summary = `targets: ${pass} PASS, ${miss} MISS${na > 0 ? `, ${na} not measured` : ''}`;

  log('');
  log(consoleTable(rows));
  if (opts.probe) {
    log('');
    log(textTable(PROBE_HEADER, probed, PROBE_NUMERIC));
    log(PROBE_NOTE);
  }
  log('');
  for (const n of run.notes) log(n);
  log(LEGEND);
  log(`${summary}; load average at the end ${loadEnd.toFixed(2)}`);
  if (problems.length > 0) {
    const bar = '!'.repeat(72);
    log(`\n${bar}\n!!! THIS RUN HAD ${problems.length} ERROR(S): its numbers are not trustworthy`);
    for (const p of problems) log(`!!! - ${p}`);
    log(bar);
  }

  const overrides = serverEnvOverrides();
  const markdown = [
    `# Engram benchmark — ${started.toISOString()}`,
    '',
    `- Machine: ${machineLine(machine)}; load average at the end ${loadEnd.toFixed(2)}`,
    `- Service: commit ${rev}`,
    `- Settings: ${opts.connections} connections, ${opts.warmupS} s warm-up + ${opts.durationS} s per load phase; ` +
      `in-process baselines ${opts.loop.warmupS} s + ${opts.loop.durationS} s; scenarios ${[...opts.only].join(', ')}`,
    ...(overrides.length > 0 ? [`- Server environment overrides: \`${overrides.join(' ')}\``] : []),
    ...run.notes.map((n) => `- ${n[0]?.toUpperCase()}${n.slice(1)}`),
    `- ${summary[0]?.toUpperCase()}${summary.slice(1)}`,
    '',
    markdownTable(rows),
    '',
    ...(opts.probe ? [mdTable(PROBE_HEADER, probed, PROBE_NUMERIC), '', PROBE_NOTE, ''] : []),
    ...run.vectorLines,
    LEGEND,
    '',
    problems.length > 0
      ? `**THIS RUN HAD ${problems.length} ERROR(S):**\n\n${problems.map((p) => `- ${p}`).join('\n')}`
      : 'No errors: every response was 2xx, the server exited 0 and logged no error.',
    '',
  ].join('\n');
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  log('written bench/results/latest.md');
}

// ---- Main ----------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = options();
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  const machine = describeMachine(ROOT);
  const started = new Date();
  const rev = revision();
  log(`Engram benchmark — ${started.toISOString()}`);
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
  const run: Run = {
    opts,
    tmp,
    dbPath: opts.vectorsDb ?? join(tmp, 'bench.db'),
    probeFile: join(tmp, 'probe.jsonl'),
    m: {},
    populationIds: [],
    notes: [],
    probeLines: [],
    vectorLines: [],
    problems: [],
  };
  try {
    if (needsHello(run)) await runHello(run);
    if ([...opts.only].some((s) => s !== 'spatiotemporal')) {
      await runService(run);
      await runBaselines(run);
    }
    if (want(run, 'spatiotemporal')) await runSpatiotemporal(run);
  } finally {
    if (opts.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  report(run, machine, started, rev);
  return run.problems.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
