/**
 * `npm run trace -- <identifier> [--json]`: the story of every record of one person, in time order.
 *
 * Reads the trace index the monitor keeps (MONITOR_TRACE_DIR): by default through the running
 * monitor's GET /trace (--monitor-url, env TRACE_MONITOR_URL, default http://127.0.0.1:9103); with
 * --index-dir, by opening the index directory itself, which works only while no monitor holds it
 * (LevelDB allows one process). Story on stdout, problems on stderr.
 * Exit 0 answered (an empty story says so on stderr), 1 the index could not be read, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { TraceIndexError } from '../errors.ts';
import { loadTraceCliConfig } from './cli-config.ts';
import { formatTable, type StoryLine } from './story.ts';

const DEFAULT_MONITOR_URL = 'http://127.0.0.1:9103';
const USAGE = `usage: trace.ts <identifier> [--json] [--monitor-url URL | --index-dir DIR]
  <identifier>       an email, customer id, anonymous id, order id, message id, event id or customer key
  --json             one JSON object per line: at, stage, outcome, reason, event_id, event_name, ...
  --monitor-url URL  the monitor's ops server (default: TRACE_MONITOR_URL, else ${DEFAULT_MONITOR_URL})
  --index-dir DIR    read the index directory directly instead (only while the monitor is stopped)`;

function usage(problem: string): never {
  process.stderr.write(`trace: ${problem} (--help for usage)\n`);
  process.exit(2);
}

interface Args {
  identifier: string;
  json: boolean;
  monitorUrl: URL;
  indexDir: string | undefined;
}

function parse(argv: string[], envUrl: string | null): Args {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, strict: true, allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, 'monitor-url': { type: 'string' }, 'index-dir': { type: 'string' }, help: { type: 'boolean', default: false } },
    });
  } catch (err) {
    usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (positionals.length !== 1 || positionals[0]!.trim() === '') usage('expected exactly one identifier');
  if (values['monitor-url'] !== undefined && values['index-dir'] !== undefined) usage('give --monitor-url or --index-dir, not both');
  const rawUrl = values['monitor-url'] ?? envUrl ?? DEFAULT_MONITOR_URL;
  let monitorUrl: URL;
  try {
    monitorUrl = new URL(rawUrl);
    if (monitorUrl.protocol !== 'http:' && monitorUrl.protocol !== 'https:') throw new Error('not http');
  } catch {
    usage(`--monitor-url must be an http(s) URL, got "${rawUrl}"`);
  }
  if (values['index-dir'] === '') usage('--index-dir must name a directory');
  return { identifier: positionals[0]!, json: values.json, monitorUrl, indexDir: values['index-dir'] };
}

async function fromMonitor(base: URL, identifier: string): Promise<{ lines: StoryLine[]; truncated: boolean }> {
  const url = new URL('trace', base.href.endsWith('/') ? base : new URL(`${base.href}/`));
  url.searchParams.set('id', identifier);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new TraceIndexError('TRACE_UNAVAILABLE', `the monitor at ${base.origin} did not answer (${(err as Error).message}); is it running with MONITOR_TRACE_DIR? Or use --index-dir`, { cause: err });
  }
  if (res.status === 404) throw new TraceIndexError('TRACE_UNAVAILABLE', `the monitor at ${base.origin} has no trace index (start it with MONITOR_TRACE_DIR)`);
  if (!res.ok) throw new TraceIndexError('TRACE_UNAVAILABLE', `the monitor at ${base.origin} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const text = await res.text();
  const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as StoryLine);
  return { lines, truncated: res.headers.get('x-trace-truncated') === 'true' };
}

async function fromDirectory(dir: string, identifier: string): Promise<{ lines: StoryLine[]; truncated: boolean }> {
  // Loaded only here: asking the monitor needs neither LevelDB nor the resolver.
  const [{ TraceIndex }, { resolvePerson }, { buildStory }] = await Promise.all([import('./trace-index.ts'), import('./person-resolver.ts'), import('./story.ts')]);
  const index = await TraceIndex.open(dir, { create: false });
  try {
    const resolved = await resolvePerson(index, identifier);
    return { lines: buildStory(resolved.records), truncated: resolved.truncated };
  } finally {
    await index.close();
  }
}

const env = loadTraceCliConfig(process.env);
const args = parse(process.argv.slice(2), env.monitorUrl);
try {
  const { lines, truncated } = args.indexDir !== undefined ? await fromDirectory(args.indexDir, args.identifier) : await fromMonitor(args.monitorUrl, args.identifier);
  if (args.json) process.stdout.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  else if (lines.length > 0) process.stdout.write(`${formatTable(lines)}\n`);
  if (lines.length === 0) process.stderr.write(`trace: nothing indexed for "${args.identifier}"\n`);
  if (truncated) process.stderr.write('trace: truncated: the identifier is shared by too many records or people\n');
} catch (err) {
  if (err instanceof TraceIndexError) {
    process.stderr.write(`trace: ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`trace: failed: ${env.debug ? ((err as Error).stack ?? String(err)) : (err as Error).message}\n`);
    process.exitCode = 1;
  }
}
