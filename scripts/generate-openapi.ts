import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

// `npm run openapi`: writes the API document generated from the route schemas to openapi/openapi.json.
// test/http/openapi.test.ts regenerates it in memory and fails when the committed file has drifted.

export const OPENAPI_PATH = fileURLToPath(new URL('../openapi/openapi.json', import.meta.url));

/** The API document as committed: pretty-printed JSON with a trailing newline. */
export async function renderOpenApi(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'engram-openapi-'));
  try {
    const config = loadConfig({ LOG_LEVEL: 'silent', LIBSQL_URL: `file:${join(dir, 'openapi.db')}` });
    const app = await buildApp(config);
    try {
      await app.ready();
      return `${JSON.stringify(app.swagger(), null, 2)}\n`;
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OPENAPI_PATH, await renderOpenApi());
  process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
}
