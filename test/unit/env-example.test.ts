import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig } from '../../src/config.js';

// STYLE.md: `.env.example` lists every variable, with its default; the schema and the file agree.

const ENV_EXAMPLE = new URL('../../.env.example', import.meta.url);

/** `NAME=value` lines of the file, in order (comments and blank lines skipped). */
function assignments(): [string, string][] {
  return readFileSync(ENV_EXAMPLE, 'utf8')
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

  it('.env.example - values shown - are the defaults (the file loads to the same config as no file)', () => {
    expect(loadConfig(Object.fromEntries(assignments()))).toEqual(loadConfig({}));
  });
});
