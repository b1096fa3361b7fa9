import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig } from '../../src/config.js';

// STYLE.md: `.env.example` lists every variable, with its default; the schema and the file agree.

const ENV_EXAMPLE = new URL('../../.env.example', import.meta.url);

const COMPOSE_SECTION = '# --- docker compose only';

/** `NAME=value` lines of one section of the file, in order (comments and blank lines skipped). */
function assignments(section: 'service' | 'compose' = 'service'): [string, string][] {
  const [service = '', compose = ''] = readFileSync(ENV_EXAMPLE, 'utf8').split(COMPOSE_SECTION);
  return (section === 'service' ? service : compose.split('\n').slice(1).join('\n'))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!match) throw new Error(`.env.example: not a NAME=value line: ${line}`);
      return [match[1] as string, match[2] as string];
    });
}

describe('.env.example', () => {
  it('.env.example - variable names - exactly the schema keys, each once', () => {
    const names = assignments().map(([name]) => name);
    expect(new Set(names).size, 'a variable is listed twice').toBe(names.length);
    expect([...names].sort()).toEqual(Object.keys(ConfigSchema.shape).sort());
  });

  it('.env.example - compose section - lists every variable docker-compose.yml reads, and only those', () => {
    const compose = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    const used = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] as string));
    const listed = new Set([...assignments('service'), ...assignments('compose')].map(([name]) => name));
    expect(
      [...used].filter((name) => !listed.has(name)),
      'used by compose, missing from .env.example',
    ).toEqual([]);
    const composeOnly = assignments('compose').map(([name]) => name);
    expect(
      composeOnly.filter((name) => !used.has(name)),
      'listed as compose-only, unused',
    ).toEqual([]);
  });

  it('docker-compose.yml - LOG_LEVEL and every DB_* variable - passed through with the schema default', () => {
    const compose = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    const defaults = loadConfig({}) as Record<string, unknown>;
    const names = Object.keys(ConfigSchema.shape).filter(
      (name) => name === 'LOG_LEVEL' || name.startsWith('DB_'),
    );
    const missing = names.filter(
      (name) => !compose.includes(`    ${name}: \${${name}:-${String(defaults[name])}}`),
    );
    expect(missing, 'not passed through with the schema default').toEqual([]);
  });

  it("docker-compose.yml - LIBSQL_ALLOW_INSECURE - only the stack's own sqlds, never every host", () => {
    const compose = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    const line = compose.split('\n').find((l) => l.trim().startsWith('LIBSQL_ALLOW_INSECURE:'));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's own ${VAR:-default} syntax
    expect(line?.trim()).toBe('LIBSQL_ALLOW_INSECURE: ${ENGRAM_LIBSQL_ALLOW_INSECURE:-sqld,sqld-replica}');
  });

  it('.env.example - values shown - are the defaults (the file loads to the same config as no file)', () => {
    expect(loadConfig(Object.fromEntries(assignments()))).toEqual(loadConfig({}));
  });
});
