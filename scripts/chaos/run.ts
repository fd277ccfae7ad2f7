/** One chaos run: the pipeline (make dev's or its own), the load, the faults on schedule, the verdict. */
import { randomBytes } from 'node:crypto';
import { DEFAULT_STACK } from '../local-stack.ts';
import { checkTargets, inject, type FaultTargets } from './faults.ts';
import { runLoad, type LoadResult } from './load.ts';
import type { ChaosOptions } from './options.ts';
import { startOwnPipeline, type OwnPipeline } from './own-pipeline.ts';
import { judge, type EmulatorPerson, type FaultRecord, type Verdict } from './verdict.ts';

export interface ChaosReport extends Verdict {
  run: string;
  people: number;
  eventsPerPerson: number;
  durationS: number;
  rejected: LoadResult['rejected'];
  retries: Record<string, number>;
  /** People who never got all their events accepted (the run was cut short). */
  unsentPeople: number;
  /** The emulator's Track API answers during the run, and how many were 429. */
  cioAnswers: CioAnswers;
}

export interface CioAnswers {
  total: number;
  rateLimited: number;
}

/** The emulator's request count so far, and its 429s since `since` (from its request log). */
async function cioAnswers(emulatorUrl: string, since: number): Promise<CioAnswers> {
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${emulatorUrl}${path}`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`GET ${emulatorUrl}${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  const stats = await get<{ requests_total: number }>('/_emulator/stats');
  const rejected = await get<Array<{ at: string; status: number }>>('/_emulator/requests?rejected=1');
  return { total: stats.requests_total, rateLimited: rejected.filter((r) => r.status === 429 && Date.parse(r.at) >= since).length };
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function people(emulatorUrl: string): Promise<EmulatorPerson[]> {
  const res = await fetch(`${emulatorUrl}/_emulator/people`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${emulatorUrl}/_emulator/people answered ${res.status}`);
  return (await res.json()) as EmulatorPerson[];
}

/** Waits until every accepted event shows in the emulator (or the time runs out), then a little longer for stragglers. */
async function settle(emulatorUrl: string, run: string, expected: number, settleMs: number, log: (line: string) => void): Promise<EmulatorPerson[]> {
  const deadline = Date.now() + settleMs;
  let count = 0;
  for (;;) {
    const all = await people(emulatorUrl).catch(() => undefined);
    count = all === undefined ? count : all.reduce((n, p) => n + p.events.filter((e) => e.data['chaos_run'] === run).length, 0);
    if (count >= expected || Date.now() > deadline) break;
    await delay(500);
  }
  log(`${count}/${expected} events in the emulator; a last look in 3 s for late duplicates`);
  await delay(3000);
  return people(emulatorUrl);
}

/** `env` is the environment an own pipeline's services start with (the entry passes its own). */
export async function runChaos(options: ChaosOptions, log: (line: string) => void, env: NodeJS.ProcessEnv): Promise<ChaosReport> {
  const run = randomBytes(4).toString('hex');
  let own: OwnPipeline | undefined;
  let ingestUrl = options.ingestUrl;
  let emulatorUrl = options.emulatorUrl;
  let writeKey = options.writeKey;
  let targets: FaultTargets;
  if (options.own) {
    own = await startOwnPipeline(run, options.kafka && options.registry ? { kafka: options.kafka, registry: options.registry } : undefined, log, env,
      { normalizers: options.normalizers, sinks: options.sinks, cioRateLimitPerSec: options.cioRateLimitPerSec });
    ({ ingestUrl, emulatorUrl, writeKey } = own);
    targets = { ...own.targets, brokerDownMs: options.brokerDownS * 1000 };
  } else {
    const port = (url: string) => Number(new URL(url).port || 80);
    targets = {
      services: {
        ingest: { port: port(ingestUrl), healthUrl: `${ingestUrl}/healthz` },
        normalizer: { port: options.normalizerOpsPort, healthUrl: `http://127.0.0.1:${options.normalizerOpsPort}/healthz` },
        sink: { port: options.sinkOpsPort, healthUrl: `http://127.0.0.1:${options.sinkOpsPort}/healthz` },
      },
      broker: DEFAULT_STACK,
      brokerDownMs: options.brokerDownS * 1000,
    };
    await people(emulatorUrl).catch((err: Error) => {
      throw new Error(`the emulator does not answer (${err.message}); start make dev first, or pass --own`);
    });
  }

  try {
    checkTargets(targets, options.faults.map((f) => f.target));
    log(`run ${run}: ${options.people} people x ${options.events} events at ${options.rate}/s through ${ingestUrl}; faults ${options.faults.map((f) => `${f.target}@${f.atS}`).join(', ') || 'none'}`);
    const startedAt = Date.now();
    const answersBefore = await cioAnswers(emulatorUrl, startedAt);
    let aborted = false;
    const load = runLoad({ run, people: options.people, events: options.events, rate: options.rate, ingestUrl, writeKey, maxRetryAfterS: options.maxRetryAfterS }, log, () => aborted);
    const loaded = load.then((r) => ({ ...r, endedAt: Date.now() }));
    // Each fault at its own time, not after the previous one's recovery: a slow restart must not
    // push the next kill past the end of the load. Faults may overlap, as real ones do.
    const faults: FaultRecord[] = await Promise.all(options.faults.map(async (f) => {
      await delay(startedAt + f.atS * 1000 - Date.now());
      return { target: f.target, ...(await inject(f.target, targets, log)) };
    })).catch((err: unknown) => {
      // A fault that cannot be injected ends the run: stop the load and report the error.
      aborted = true;
      throw err;
    });
    const result = await loaded;
    const durationS = (result.endedAt - startedAt) / 1000;
    log(`load done in ${durationS.toFixed(1)} s: ${result.accepted.length} accepted; waiting for the emulator`);
    const final = await settle(emulatorUrl, run, result.accepted.length, options.settleS * 1000, log);
    const verdict = judge(result.accepted, final, run, faults, startedAt);
    const answersAfter = await cioAnswers(emulatorUrl, startedAt);
    const answers = { total: answersAfter.total - answersBefore.total, rateLimited: answersAfter.rateLimited };
    const sentPerPerson = new Map<string, number>();
    for (const a of result.accepted) sentPerPerson.set(a.person, (sentPerPerson.get(a.person) ?? 0) + 1);
    const unsentPeople = options.people - [...sentPerPerson.values()].filter((n) => n === options.events).length;
    return { ...verdict, run, people: options.people, eventsPerPerson: options.events, durationS, rejected: result.rejected, retries: result.retries, unsentPeople, cioAnswers: answers };
  } finally {
    if (own) {
      log('stopping its own pipeline');
      await own.stop();
    }
  }
}
