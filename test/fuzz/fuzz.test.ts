import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { buildIdentityApp } from '../helpers/identities.js';
import type { Identity } from './requests.js';
import { type FuzzReport, runFuzz } from './runner.js';

// The fuzz tier (issue 8.6; RELIABILITY R12): requests generated from openapi/openapi.json against a
// listening server on each backend. FUZZ_SEED replays a run; FUZZ_RUNS sets its size (sqld gets a fifth).

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const runsOn = (backend: string) => (backend === 'sqld' ? Math.ceil(RUNS / 5) : RUNS);

function summary(name: string, report: FuzzReport): string {
  const statuses = Object.entries(report.byStatus)
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');
  return [
    `fuzz on ${name}: seed ${report.seed}, ${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s`,
    `  statuses ${statuses}`,
    `  kinds ${Object.entries(report.byLabel)
      .map(([k, n]) => `${k}:${n}`)
      .join(' ')}`,
  ].join('\n');
}

function failures(name: string, report: FuzzReport, serverErrors: string[]): string {
  const lines = report.failures.map(
    (f) =>
      `#${f.worker}.${f.index} [${f.label}] ${f.reasons.join('; ')}\n    → ${f.request}\n    ← ${f.status ?? '-'} ${f.response ?? ''}`,
  );
  return [
    `fuzz on ${name} failed; replay with FUZZ_SEED=${report.seed} FUZZ_RUNS=${RUNS} npm run test:fuzz`,
    ...lines,
    ...serverErrors
      .filter((line) => report.failures.some((f) => f.requestId && line.includes(f.requestId)))
      .slice(0, 10)
      .map((line) => `server log: ${line.slice(0, 1_000)}`),
  ].join('\n');
}

describe.each(BACKENDS)('fuzz tier on $name', ({ name, env }) => {
  const runs = runsOn(name);
  it(
    `${runs} generated requests over HTTP: no 5xx, errors problem+json with the request id, 2xx valid per the document, acknowledged writes read back`,
    async () => {
      // Server-side errors are kept to explain a failure (the app's own logs are silent in tests).
      const serverErrors: string[] = [];
      const logger = pino(
        { level: 'error' },
        new Writable({
          write(chunk, _encoding, done) {
            serverErrors.push(String(chunk).slice(0, 2_000));
            done();
          },
        }),
      );
      // Two tenants × three roles (SPEC §6): every request picks one; the model expects 404 for another
      // tenant's records, no change from a read key, and no record of another tenant in any answer.
      const ids = await buildIdentityApp(env, { listen: true, overrides: { logger } });
      const identities: Identity[] = ids.identities.map((i) => ({
        name: `${i.slot}/${i.role}`,
        tenant: i.tenant,
        role: i.role,
        headers: { authorization: `Bearer ${i.key}` },
      }));
      let report: FuzzReport;
      try {
        const { port } = new URL(ids.url);
        report = await runFuzz({
          host: '127.0.0.1',
          port: Number(port),
          seed: SEED,
          runs,
          identities,
        });
      } finally {
        await ids.close();
      }
      console.log(summary(name, report));
      // The count, not the list: a diff of failure objects would bury the readable report above it.
      expect(report.failures.length, failures(name, report, serverErrors)).toBe(0);
      expect(report.requests).toBeGreaterThanOrEqual(runs);
    },
    Math.max(300_000, runs * 60),
  );
});
