/**
 * The sink as its own process (`node services/sink/src/main.ts`): killed with SIGKILL mid-stream,
 * restarted, stopped gracefully with SIGTERM mid-stream, restarted again. Customer.io (the emulator)
 * must end up with every event of every person, in order; redeliveries after the crash are the only
 * repeats and the emulator ignores them by event id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from '@cio-pipeline/core';
import { testKafka } from '../../../test/support/kafka.ts';
import {
  deleteTopics, deliveredCount, expectComplete, expectedTotal, journeys, produceCanonical, sinkEnv, startTestEmulator,
  testPipeline, type TestEmulator, type TestPipeline,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface SinkProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

function spawnSink(env: Record<string, string>): SinkProcess {
  const child = spawn(process.execPath, ['services/sink/src/main.ts'], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => out };
}

/** Waits for delivery progress, failing at once (with the sink's log) if the sink process died. */
async function progressWhile<T>(s: SinkProcess, wait: Promise<T>): Promise<T> {
  const died = s.exited.then(({ code, signal }) => {
    throw new Error(`sink exited early (code ${code}, signal ${signal})`);
  });
  try {
    return await Promise.race([wait, died]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nsink log:\n${s.output().slice(-5000)}`);
  }
}

describe('sink process crash and restart', () => {
  let kafka: Kafka;
  let emu: TestEmulator;
  let p: TestPipeline;
  const running = new Set<SinkProcess>();

  beforeAll(async () => {
    kafka = testKafka();
    emu = await startTestEmulator();
    p = await testPipeline('sink-crash');
  });

  afterAll(async () => {
    for (const s of running) s.child.kill('SIGKILL');
    await emu?.close();
    if (p) await deleteTopics(kafka, p.topics);
  });

  it('exits 2 at once, naming every problem, on a bad configuration', async () => {
    const s = spawnSink({ CIO_REGION: 'mars', SINK_CONCURRENCY: 'lots' });
    const { code } = await s.exited;
    expect(code).toBe(2);
    for (const name of ['CIO_SITE_ID', 'CIO_API_KEY', 'CIO_REGION', 'SINK_CONCURRENCY']) expect(s.output()).toContain(name);
  });

  it('delivers everything complete and in order across kill -9 and a graceful stop', async () => {
    // Slow enough that the stream is mid-way when the signals arrive; commits lag on purpose so a
    // crash leaves delivered-but-uncommitted events to be redelivered.
    await emu.setFaults({ latency_ms: 25 });
    const env = sinkEnv(p, emu.url, { SINK_RATE_LIMIT_PER_SEC: '40', SINK_MAX_BATCH_ITEMS: '10', SINK_CONCURRENCY: '4', SINK_COMMIT_INTERVAL_MS: '1500', LOG_LEVEL: 'info' });
    const { events, expected } = journeys('crash', 150, 8);
    const total = expectedTotal(expected);
    await produceCanonical(kafka, p, events);
    const progress = (): Promise<number> => emu.people().then((ps) => deliveredCount(ps, expected));

    const first = spawnSink(env);
    running.add(first);
    const atKill = await progressWhile(first, eventually('a quarter delivered', progress, (n) => n >= total / 4, { timeoutMs: 60_000, intervalMs: 50 }));
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    running.delete(first);
    expect(atKill).toBeLessThan(total);

    // A short drain: it finishes what is in flight, commits what is done, and leaves the rest.
    const second = spawnSink({ ...env, SINK_DRAIN_TIMEOUT_MS: '300' });
    running.add(second);
    const atTerm = await progressWhile(second, eventually('more delivered after the restart', progress, (n) => n >= atKill + total / 4, { timeoutMs: 60_000, intervalMs: 50 }));
    expect(atTerm).toBeLessThan(total);
    second.child.kill('SIGTERM');
    const stopped = await second.exited;
    running.delete(second);
    expect(stopped.code, second.output()).toBe(0);

    const third = spawnSink(env);
    running.add(third);
    const people = await progressWhile(third, eventually(`${total} events delivered`, () => emu.people(), (ps) => deliveredCount(ps, expected) >= total, { timeoutMs: 90_000, intervalMs: 200 }));
    expectComplete(people, expected);
    // The crash made the sink send some events again (uncommitted at the kill); Customer.io kept each once.
    const sentItems = (await emu.requests()).filter((r) => r.status === 200).reduce((n, r) => n + (r.item_count ?? 1), 0);
    expect(sentItems).toBeGreaterThan(total + 150);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
    running.delete(third);
  });
});
