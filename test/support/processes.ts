/** Runs the services as real child processes for end-to-end tests, and stops them afterwards. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from './eventually.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface RunningService {
  name: string;
  child: ChildProcess;
  /** The last lines it printed, for a failing test's message. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `onLine` sees every line the service prints, stdout and stderr (a test that reads all its logs). */
export function startService(name: string, script: string, env: Record<string, string>, onLine?: (line: string) => void): RunningService {
  const child = spawn(process.execPath, [join(ROOT, script)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  // A chunk can end mid-line: each stream keeps its unfinished line until the next chunk.
  const reader = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (!l) continue;
        lines.push(l);
        onLine?.(l);
      }
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
  };
  child.stdout!.on('data', reader());
  child.stderr!.on('data', reader());
  return {
    name,
    child,
    output: () => lines.join('\n'),
    stop: (signal = 'SIGTERM') => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    }),
  };
}

/** A service that exited while a test waited for it: nothing more will come. */
export class ServiceExitedError extends Error {
  readonly code = 'TEST_SERVICE_EXITED';
}

/** Polls `url` until it answers 2xx; fails with the service's output if it exits or times out. */
export async function waitReady(service: RunningService, url: string, timeoutMs = 60_000): Promise<void> {
  await eventually(`${service.name} ready at ${url}`, async () => {
    if (service.child.exitCode !== null) throw new ServiceExitedError(`${service.name} exited with ${service.child.exitCode}:\n${service.output()}`);
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).status;
  }, (status) => status >= 200 && status < 300, {
    timeoutMs, intervalMs: 200, retryOn: (err) => !(err instanceof ServiceExitedError), context: () => service.output(),
  });
}
