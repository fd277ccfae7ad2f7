/**
 * A sink restarted after a kill -9 must wait out its predecessor's group session before it can
 * join. Meanwhile it is alive (/healthz answers, so a supervisor does not kill it again) but not
 * ready (/readyz 503, so no traffic is routed to it); once it has joined it is ready. The
 * predecessor here is a consumer in another process, killed with -9 right after joining.
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../scripts/local-stack.ts';
import { stackInfo } from '../../../test/support/kafka.ts';
import type { SinkService } from '../src/app.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { startTestEmulator, startTestSink, testPipeline, type TestEmulator } from './int-support.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Joins `groupId` from another process with a long session; resolves once joined, with its kill. */
function predecessor(groupId: string, topic: string): Promise<() => void> {
  const code = `
    import { Kafka, logLevel } from 'kafkajs';
    const kafka = new Kafka({ clientId: 'predecessor', brokers: ${JSON.stringify(stackInfo().brokers.split(','))}, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: ${JSON.stringify(groupId)}, sessionTimeout: 15000, heartbeatInterval: 1000 });
    consumer.on(consumer.events.GROUP_JOIN, () => console.log('joined'));
    await consumer.connect();
    await consumer.subscribe({ topics: [${JSON.stringify(topic)}] });
    await consumer.run({ eachMessage: async () => {} });
  `;
  // Plain KafkaJS, without createKafka's filter: its idle request-queue timer (setTimeout(0 - Date.now()))
  // would print Node's TimeoutNegativeWarning into the test output.
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('joined')) resolve(() => child.kill('SIGKILL'));
    });
    child.on('exit', (code) => reject(new Error(`the predecessor exited (${code}) before joining`)));
  });
}

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

describe('sink liveness and readiness across a predecessor killed with -9', () => {
  let emulator: TestEmulator | undefined;
  let sink: SinkService | undefined;

  afterAll(async () => {
    await sink?.stop(0);
    await emulator?.close();
  }, 60_000);

  it('answers /healthz before it has joined its group, and /readyz only once it has', async () => {
    emulator = await startTestEmulator();
    const p = await testPipeline('live');
    const kill = await predecessor(p.groupId, p.topics.canonical);
    kill();
    const port = await freePort();
    const starting = startTestSink(p, emulator.url, { SINK_OPS_PORT: String(port) });
    await eventually('/healthz', () => status(`http://127.0.0.1:${port}/healthz`), (s) => s === 200, { timeoutMs: 30_000, intervalMs: 100 });
    // The join waits for the killed predecessor's 15 s session to lapse: not ready meanwhile.
    expect(await status(`http://127.0.0.1:${port}/readyz`)).toBe(503);
    sink = await starting;
    expect(await status(`http://127.0.0.1:${port}/readyz`)).toBe(200);
  }, 90_000);
});
