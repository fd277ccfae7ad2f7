/** `make chaos` options: parsed and validated once, every problem reported at once. */
import { parseCommandLine } from '@cio-pipeline/core/command-line';
import { PipelineError } from '@cio-pipeline/core/errors';

export const TARGETS = ['ingest', 'normalizer', 'sink', 'broker'] as const;
export type Target = (typeof TARGETS)[number];

export interface Fault {
  target: Target;
  /** Seconds after the load starts. */
  atS: number;
}

export interface ChaosOptions {
  people: number;
  events: number;
  /** Events per second over all people. */
  rate: number;
  faults: Fault[];
  brokerDownS: number;
  /** Start a pipeline of its own (true) or attach to `make dev` (false). */
  own: boolean;
  /** For an own pipeline: instances of each consumer group, and the Customer.io limit they share. */
  normalizers: number;
  sinks: number;
  cioRateLimitPerSec: number | undefined;
  /** For an own pipeline: an existing Kafka and registry instead of a stack of its own. */
  kafka: string | undefined;
  registry: string | undefined;
  ingestUrl: string;
  emulatorUrl: string;
  normalizerOpsPort: number;
  sinkOpsPort: number;
  writeKey: string;
  /** The longest wait a 503/429's Retry-After buys. */
  maxRetryAfterS: number;
  settleS: number;
  json: boolean;
}

export class UsageError extends PipelineError {
  constructor(problems: readonly string[]) {
    super('CHAOS_USAGE', problems.join('\n'));
  }
}

export const DEFAULT_FAULTS = 'sink@8,normalizer@16,ingest@24,broker@32';

export const HELP = `make chaos ARGS='OPTIONS'   (or: node scripts/chaos/cli.ts OPTIONS)

Sends PEOPLE x EVENTS ordered events through ingest (Segment /v1/track with the write key, each
event numbered per person), kill -9s services and the broker on a schedule while it keeps sending
(retrying 503/429 and refused connections as a real client would), then judges what the
Customer.io emulator holds: lost, duplicated and out-of-order events, and the time to recover
after each kill. Exits 0 when nothing is lost, duplicated or reordered, 1 otherwise, 2 on a usage
error. Logs go to stderr; the summary (or with --json one JSON object) to stdout.

By default it attaches to \`make dev\` (run it in another terminal first): services are found by
the port they listen on and restarted by make dev's supervisor; the broker of the stack "dev" is
killed and started again by this tool. With --own it starts a pipeline of its own (its own broker
and registry on free ports, emulator, normalizers, sinks, ingest, restarted when they exit; a kill
hits the first instance of its service) and
removes it afterwards; services inherit this process's environment (e.g.
NORMALIZER_SESSION_TIMEOUT_MS).

Options:
  --people N            people sending at once                       (default 100)
  --events M            events per person, sent one after another    (default 100)
  --rate R              events per second over all people            (default 200)
  --kill SCHEDULE       target@seconds, comma-separated; targets: ingest, normalizer, sink, broker;
                        "none" for a calm run                         (default ${DEFAULT_FAULTS})
  --broker-down S       seconds the broker stays down before its restart (default 2)
  --own                 start a pipeline of its own instead of attaching to make dev
  --normalizers N       with --own: normalizer instances in the group   (default 1)
  --sinks N             with --own: sink instances in the group         (default 1)
  --cio-rate-limit R    with --own: the emulator answers 429 above R requests/s, and the sinks
                        share R between them (SINK_RATE_LIMIT_PER_SEC)  (default: no limit)
  --kafka BROKERS       with --own: use this Kafka (no broker kills) ...
  --registry URL        ... and this schema registry instead of a stack of its own
  --ingest URL          make dev's ingest                            (default http://127.0.0.1:8080)
  --emulator URL        make dev's Customer.io emulator              (default http://127.0.0.1:8090)
  --normalizer-port P   make dev's normalizer ops port               (default 9101)
  --sink-port P         make dev's sink ops port                     (default 9102)
  --write-key KEY       the app write key ingest accepts             (default make dev's)
  --max-retry-after S   the longest Retry-After honoured             (default 5)
  --settle S            seconds to wait for every accepted event     (default 90)
  --json                print one JSON object instead of the summary
  -h, --help            this text
`;

function positiveInt(name: string, raw: string | undefined, fallback: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) problems.push(`--${name} must be a positive integer, got "${raw}"`);
  return n;
}

function positiveNumber(name: string, raw: string | undefined, fallback: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) problems.push(`--${name} must be a positive number, got "${raw}"`);
  return n;
}

function url(name: string, raw: string, problems: string[]): string {
  try {
    return new URL(raw).toString().replace(/\/$/, '');
  } catch {
    problems.push(`--${name} must be a URL, got "${raw}"`);
    return raw;
  }
}

export function parseSchedule(text: string, problems: string[]): Fault[] {
  if (text.trim() === 'none' || text.trim() === '') return [];
  const faults: Fault[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*([a-z]+)@(\d+(?:\.\d+)?)s?\s*$/.exec(part);
    const target = match?.[1] as Target | undefined;
    if (!match || !target || !TARGETS.includes(target)) {
      problems.push(`--kill: "${part}" is not target@seconds with a target among ${TARGETS.join(', ')}`);
      continue;
    }
    faults.push({ target, atS: Number(match[2]) });
  }
  return faults.sort((a, b) => a.atS - b.atS);
}

/** Returns the options, or 'help' when --help was asked; throws UsageError on anything wrong. */
export function parseOptions(argv: string[]): ChaosOptions | 'help' {
  const line = parseCommandLine(argv, {
    people: { type: 'string' }, events: { type: 'string' }, rate: { type: 'string' },
    kill: { type: 'string' }, 'broker-down': { type: 'string' }, own: { type: 'boolean' },
    normalizers: { type: 'string' }, sinks: { type: 'string' }, 'cio-rate-limit': { type: 'string' },
    kafka: { type: 'string' }, registry: { type: 'string' }, ingest: { type: 'string' }, emulator: { type: 'string' },
    'normalizer-port': { type: 'string' }, 'sink-port': { type: 'string' }, 'write-key': { type: 'string' },
    'max-retry-after': { type: 'string' }, settle: { type: 'string' }, json: { type: 'boolean' },
  });
  if (line.kind === 'help') return 'help';
  if (line.kind === 'usage-error') throw new UsageError([line.problem]);
  const { values } = line;
  const problems: string[] = [];
  const own = values.own ?? false;
  if ((values.kafka === undefined) !== (values.registry === undefined)) problems.push('--kafka and --registry go together');
  if (values.kafka !== undefined && !own) problems.push('--kafka and --registry need --own');
  if (!own && (values.normalizers !== undefined || values.sinks !== undefined || values['cio-rate-limit'] !== undefined)) problems.push('--normalizers, --sinks and --cio-rate-limit need --own (make dev runs one of each)');
  if (own && (values.ingest !== undefined || values.emulator !== undefined)) problems.push('--ingest and --emulator are for make dev; --own starts its own');
  const faults = parseSchedule(values.kill ?? DEFAULT_FAULTS, problems);
  if (values.kafka !== undefined && faults.some((f) => f.target === 'broker')) problems.push('a broker kill needs a broker this tool can restart: drop --kafka or the broker from --kill');
  const options: ChaosOptions = {
    people: positiveInt('people', values.people, 100, problems),
    events: positiveInt('events', values.events, 100, problems),
    rate: positiveNumber('rate', values.rate, 200, problems),
    faults,
    brokerDownS: positiveNumber('broker-down', values['broker-down'], 2, problems),
    own,
    normalizers: positiveInt('normalizers', values.normalizers, 1, problems),
    sinks: positiveInt('sinks', values.sinks, 1, problems),
    cioRateLimitPerSec: values['cio-rate-limit'] === undefined ? undefined : positiveNumber('cio-rate-limit', values['cio-rate-limit'], 0, problems),
    kafka: values.kafka,
    registry: values.registry === undefined ? undefined : url('registry', values.registry, problems),
    ingestUrl: url('ingest', values.ingest ?? 'http://127.0.0.1:8080', problems),
    emulatorUrl: url('emulator', values.emulator ?? 'http://127.0.0.1:8090', problems),
    normalizerOpsPort: positiveInt('normalizer-port', values['normalizer-port'], 9101, problems),
    sinkOpsPort: positiveInt('sink-port', values['sink-port'], 9102, problems),
    writeKey: values['write-key'] ?? 'dev-write-key',
    maxRetryAfterS: positiveNumber('max-retry-after', values['max-retry-after'], 5, problems),
    settleS: positiveNumber('settle', values.settle, 90, problems),
    json: values.json ?? false,
  };
  const loadS = (options.people * options.events) / options.rate;
  const last = faults.at(-1);
  // Events must keep coming after the last kill, or its recovery cannot be measured.
  if (last !== undefined && last.atS > 0.8 * loadS) {
    problems.push(`--kill: the last kill (${last.target}@${last.atS}) must come within the first 80% of the load's ${loadS.toFixed(1)} s (people x events / rate)`);
  }
  if (problems.length > 0) throw new UsageError(problems);
  return options;
}
