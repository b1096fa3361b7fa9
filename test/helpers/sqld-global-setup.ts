import type { TestProject } from 'vitest/node';
import { type SqldHandle, startSqld } from './sqld.js';

// vitest globalSetup of the `integration` project: one sqld for the whole run, shared by the test files
// through `inject('sqldUrl')` (from 'vitest'). Tests that kill or restart a server start their own with
// startSqld() instead. Under CI=true a sqld that cannot start fails the run; elsewhere the URL is '' and a
// test that needs it must skip loudly (or fail) itself.

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the shared sqld (loopback http, no token), or '' when none could start outside CI. */
    sqldUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let sqld: SqldHandle | undefined;
  try {
    sqld = await startSqld();
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    console.warn(
      `\n[sqld] WARNING: integration tests that need a sqld will skip: ${(err as Error).message}\n`,
    );
  }
  project.provide('sqldUrl', sqld?.url ?? '');
  return async () => {
    await sqld?.stop();
  };
}
