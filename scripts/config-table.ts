import { ConfigSchema } from '../src/config.js';

/** The README's configuration table, generated from the config schema (a test keeps the two in step). */
export function configTable(): string {
  const rows = Object.entries(ConfigSchema.shape).map(([name, schema]) => {
    const json = schema.toJSONSchema() as { default?: unknown };
    const fallback = json.default === undefined ? '—' : `\`${String(json.default)}\``;
    return `| \`${name}\` | ${fallback} | ${schema.description ?? ''} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${configTable()}\n`);
