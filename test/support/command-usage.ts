/**
 * The contract every operator command keeps, checked by spawning it as a child process with this
 * project's node: `--help` prints the usage on stdout and exits 0; a usage error exits 2 with a
 * one-line reason on stderr (first line) and nothing on stdout.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface CommandRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` (relative to the repo root) with `args`; no broker or registry is reachable. */
export function runCommand(script: string, args: string[], env: Record<string, string> = {}): CommandRun {
  const r = spawnSync(process.execPath, [join(ROOT, script), ...args], {
    cwd: ROOT,
    // A closed port: a command that wrongly went on to connect fails instead of finding the shared stack.
    env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/apis/ccompat/v7', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function expectHelp(script: string, usageStart: string): CommandRun {
  const r = runCommand(script, ['--help']);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.startsWith(usageStart), r.stdout).toBe(true);
  expect(r.stderr).toBe('');
  return r;
}

/** A usage error: exit 2, nothing on stdout, a reason on stderr's first line matching `reason`. */
export function expectUsageError(script: string, args: string[], reason: RegExp): CommandRun {
  const r = runCommand(script, args);
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
  expect(r.stdout).toBe('');
  const firstLine = r.stderr.split('\n')[0] ?? '';
  expect(firstLine).toMatch(reason);
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
  return r;
}
