/**
 * `make chaos`, small, the way a user runs it: attached to a running pipeline whose supervisor
 * restarts what dies (here the tool's own --own pipeline stands in for make dev, on the test
 * broker and registry), with many instances: 2 normalizers and 3 sinks in their groups, sharing a
 * Customer.io rate limit the emulator enforces. 20 people x 10 ordered events while the first
 * normalizer, the first sink and ingest are each killed with -9. The verdict from the emulator is
 * asserted: nothing lost, duplicated or reordered, every kill followed by a measured recovery, and
 * at most 1% of the emulator's answers 429. The group timing is the services' default. (The broker
 * kill runs by hand with --own and a stack of its own: a second broker and registry take minutes
 * to start on a loaded machine; see the README.) Then trace explains every raw record of the run,
 * the resends of the killed ingest's unanswered requests included.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnPipeline, type OwnPipeline } from '../../scripts/chaos/own-pipeline.ts';
import { personId } from '../../scripts/chaos/load.ts';
import type { ChaosReport } from '../../scripts/chaos/run.ts';
import { stackInfo, testKafka, uniqueName } from '../support/kafka.ts';
import { explainedByTrace } from '../support/trace-coverage.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
/** Requests per second the emulator allows, below what one request per event would need. */
const CIO_RATE_LIMIT = 3;

function runChaosCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/chaos/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('make chaos, small', () => {
  let pipeline: OwnPipeline;
  const logs: string[] = [];
  const traceDir = mkdtempSync(join(tmpdir(), 'chaos-trace-'));

  beforeAll(async () => {
    const { brokers, registryUrl } = stackInfo();
    // Ingest's Retry-After short, so the client's retries after a 503 keep this run short.
    pipeline = await startOwnPipeline(uniqueName('t').replace(/-/g, ''), { kafka: brokers, registry: registryUrl }, (line) => logs.push(line), { ...process.env, INGEST_RETRY_AFTER_S: '1' },
      { normalizers: 2, sinks: 3, cioRateLimitPerSec: CIO_RATE_LIMIT, traceDir });
  }, 180_000);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(traceDir, { recursive: true, force: true });
  }, 60_000);

  it('2 normalizers and 3 sinks, kill -9 of a normalizer, a sink and ingest mid-stream: nothing lost, duplicated or reordered, at most 1% 429', async () => {
    const { services } = pipeline.targets;
    const { code, stdout, stderr } = await runChaosCli([
      '--ingest', pipeline.ingestUrl, '--emulator', pipeline.emulatorUrl, '--write-key', pipeline.writeKey,
      '--normalizer-port', String(services.normalizer!.port), '--sink-port', String(services.sink!.port),
      '--people', '20', '--events', '10', '--rate', '12', '--kill', 'normalizer@3,sink@7,ingest@11', '--settle', '60', '--json',
    ]);
    const tail = [...stderr.split('\n').slice(-30), ...logs.slice(-20)].join('\n');
    expect(stdout.trim().split('\n'), tail).toHaveLength(1);
    const report = JSON.parse(stdout) as ChaosReport & { passed: boolean };
    expect({ lost: report.examples.lost, duplicated: report.examples.duplicated, reordered: report.examples.reordered }, tail).toEqual({ lost: [], duplicated: [], reordered: [] });
    expect(report).toMatchObject({ passed: true, ok: true, accepted: 200, delivered: 200, lost: 0, duplicated: 0, reordered: 0, unsentPeople: 0, rejected: [] });
    expect(code).toBe(0);
    // Every kill happened, its service came back, and an event sent after the kill got through.
    expect(report.recoveries.map((r) => r.target)).toEqual(['normalizer', 'sink', 'ingest']);
    for (const r of report.recoveries) {
      expect(r.downMs, r.target).not.toBeNull();
      expect(r.recoveryMs, r.target).not.toBeNull();
    }
    // The client found ingest gone (no answer) and retried rather than dropping the events.
    expect(report.retries['0'] ?? 0).toBeGreaterThan(0);
    // The sinks' shares of the workspace limit add up to it: the emulator seldom had to refuse.
    expect(report.cioAnswers.total).toBeGreaterThan(0);
    expect(report.cioAnswers.rateLimited, JSON.stringify(report.cioAnswers)).toBeLessThanOrEqual(0.01 * report.cioAnswers.total);
    process.stderr.write(`[chaos test] recoveries: ${JSON.stringify(report.recoveries)}; Customer.io answers: ${JSON.stringify(report.cioAnswers)}\n`);
    // Every raw record, resends included, has its verdict in its person's trace, and every event sent its answer.
    const people = Array.from({ length: 20 }, (_, i) => personId(report.run, i));
    await explainedByTrace(testKafka(), pipeline.topicPrefix, pipeline.traceUrl!, people);
  }, 210_000);
});
