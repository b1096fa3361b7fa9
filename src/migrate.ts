import { ConfigError, loadConfig } from './config.js';
import { createDatabase } from './db/create-database.js';
import { migrate, schemaVersion } from './storage/migrations.js';

// `npm run migrate`: applies pending migrations and prints the schema version.
try {
  const db = createDatabase(loadConfig());
  const applied = await migrate(db);
  process.stdout.write(`applied ${JSON.stringify(applied)}; schema version ${await schemaVersion(db)}\n`);
  await db.close();
} catch (err) {
  process.stderr.write(`engram migrate: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
