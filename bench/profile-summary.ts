import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof`): where the server's CPU time went,
// by package or source directory (self time), by function (self time) and by function (inclusive time).
// usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 25] [--last S]
//   --last S  only the last S seconds of the profile (e.g. the final scenario of an `--only` run,
//             since the profile spans the server's whole life: population and shutdown included)

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/@scope/name/…` → `@scope/name`; `…/dist/src/db/x.js` → `src/db`; node internals → `node:`. */
function area(url: string): string {
  if (url === '') return '(native / VM)';
  if (url.startsWith('node:')) return 'node: internals';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  const dist = /\/dist\/(.*)\/[^/]+$/.exec(url);
  return dist?.[1] ?? url;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, last: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    console.error('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--last S]');
    process.exit(2);
  }
  const top = Number(values.top);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Sample times (µs from the profile's start), then self time per node over the chosen window.
  const times: number[] = [];
  profile.timeDeltas.reduce((at, d) => {
    times.push(at + d);
    return at + d;
  }, 0);
  const end = times[times.length - 1] ?? 0;
  const from = values.last === undefined ? 0 : end - Number(values.last) * 1e6;
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    if ((times[i] ?? 0) < from) return;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
    .reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;

  const keyOf = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^.*\/(node_modules|dist)\//, '$1/');
    return `${functionName || '(anonymous)'}  ${short}${url ? `:${lineNumber + 1}` : ''}`;
  };
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const key = keyOf(node);
    functions.set(key, (functions.get(key) ?? 0) + t);
    const a = area(node.callFrame.url);
    areas.set(a, (areas.get(a) ?? 0) + t);
  }
  // Inclusive: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (!node || node.callFrame.functionName === '(idle)' || node.callFrame.functionName === '(root)')
        continue;
      seen.add(keyOf(node));
    }
    for (const key of seen) inclusive.set(key, (inclusive.get(key) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  console.log(
    `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)} %)`,
  );
  console.log('\nself time by package / source directory (share of busy time):');
  for (const [a, t] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(t)}  ${a}`);
  console.log('\nself time by function:');
  for (const [f, t] of [...functions].sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(`${pct(t)}  ${f}`);
  }
  console.log('\ninclusive time by function (callees included):');
  for (const [f, t] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(`${pct(t)}  ${f}`);
  }
}

main();
