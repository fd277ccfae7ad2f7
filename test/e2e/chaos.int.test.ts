/**
 * `make chaos`, small: 20 people x 10 ordered events through a pipeline of the tool's own on the
 * test broker and registry, while the normalizer, the sink and ingest are each killed with -9 and
 * restarted. Its verdict from the emulator is asserted: nothing lost, duplicated or reordered, and
 * every kill was followed by a measured recovery. (The broker kill runs by hand with --own and a
 * stack of its own: starting a second broker and registry costs minutes on a loaded machine.)
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ChaosReport } from '../../scripts/chaos/run.ts';
import { stackInfo } from '../support/kafka.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function runChaosCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/chaos/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('make chaos, small', () => {
  it('kill -9 of the normalizer, the sink and ingest mid-stream: nothing lost, duplicated or reordered', async () => {
    const { brokers, registryUrl } = stackInfo();
    const { code, stdout, stderr } = await runChaosCli(
      ['--own', '--kafka', brokers, '--registry', registryUrl, '--people', '20', '--events', '10', '--rate', '12',
        '--kill', 'normalizer@3,sink@7,ingest@11', '--settle', '60', '--json'],
      // A killed consumer's group membership lapses after the session timeout; the smallest the
      // services accept keeps this run short. Ingest's Retry-After likewise.
      { NORMALIZER_SESSION_TIMEOUT_MS: '6000', SINK_SESSION_TIMEOUT_MS: '6000', INGEST_RETRY_AFTER_S: '1' },
    );
    const tail = stderr.split('\n').slice(-40).join('\n');
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
    // The client saw ingest gone (no answer) and retried rather than dropping the events.
    expect(report.retries['0'] ?? 0).toBeGreaterThan(0);
    process.stderr.write(`[chaos test] recoveries: ${JSON.stringify(report.recoveries)}\n`);
  }, 180_000);
});
