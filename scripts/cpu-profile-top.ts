/**
 * Where a V8 CPU profile's time went: self time by function and by package, per profile file.
 *
 *   node scripts/cpu-profile-top.ts <file.cpuprofile | dir> [top=25]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** The package or area a script belongs to: node_modules/<pkg>, our source tree, node internals. */
function area(url: string, name: string): string {
  if (url === '') return `(${name || 'anonymous'})`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node internals';
  const src = url.match(/\/(services\/[^/]+|packages\/[^/]+|bench)\//);
  return src ? src[1]! : url;
}

function report(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = profile.endTime - profile.startTime;
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const fn = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  // Node internals and natives charged to the nearest caller from a package or our code.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byOwner = new Map<string, number>();
  for (const [id, us] of selfUs) {
    let owner = id;
    for (let n = id; n !== undefined; n = parent.get(n)!) {
      const { url, functionName } = byId.get(n)!.callFrame;
      if (url !== '' && !url.startsWith('node:')) { owner = n; break; }
      if (functionName === '(garbage collector)' || functionName === '(idle)' || functionName === '(program)') { owner = n; break; }
    }
    const { url, functionName } = byId.get(owner)!.callFrame;
    const a = area(url, functionName);
    byOwner.set(a, (byOwner.get(a) ?? 0) + us);
  }
  const pct = (us: number): string => `${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1e6).toFixed(2).padStart(6)} s`;
  console.log(`\n== ${file}: ${(total / 1e6).toFixed(1)} s`);
  console.log('-- by area');
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${a}`);
  console.log('-- by owner (node internals and natives charged to their caller)');
  for (const [a, us] of [...byOwner].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${a}`);
  console.log('-- by function (self)');
  for (const [f, us] of [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${f}`);
}

const target = process.argv[2];
if (!target) throw new Error('usage: node scripts/cpu-profile-top.ts <file.cpuprofile | dir> [top]');
const top = Number(process.argv[3] ?? 25);
const files = statSync(target).isDirectory()
  ? readdirSync(target, { recursive: true }).map(String).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f))
  : [target];
for (const f of files) report(f, top);
