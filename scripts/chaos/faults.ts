/**
 * The faults: kill -9 of a service (found by the port it listens on, so make dev's processes and
 * the tool's own are treated alike; a supervisor starts it again) or of the broker (stopped and
 * started again by this tool on the same data directory). Each resolves with when the component
 * answered again.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PipelineError } from '@cio-pipeline/core';
import { restartKafka, stopKafka, type StackOptions } from '../local-stack.ts';
import type { Target } from './options.ts';

export class FaultError extends PipelineError {
  constructor(message: string) {
    super('CHAOS_FAULT', message);
  }
}

export interface ServiceEndpoint {
  /** The port the process listens on (its HTTP or ops port). */
  port: number;
  /** 200 once the process is back. */
  healthUrl: string;
}

export interface FaultTargets {
  services: Partial<Record<Exclude<Target, 'broker'>, ServiceEndpoint>>;
  /** The stack whose broker to kill; undefined when this tool cannot restart it. */
  broker: StackOptions | undefined;
  brokerDownMs: number;
}

const STACK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../.stack');

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The socket inodes listening on `port` (IPv4 and IPv6), from /proc/net/tcp*. Linux only. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      // State 0A is LISTEN.
      if (local && cols[3] === '0A' && parseInt(local.split(':')[1] ?? '', 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

/** The process listening on `port`, or null. */
export function listeningPid(port: number): number | null {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try { fds = readdirSync(`/proc/${entry}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`/proc/${entry}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
        if (inode && inodes.has(inode)) return Number(entry);
      } catch { /* closed meanwhile */ }
    }
  }
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new FaultError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(50);
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** The broker's pid from its stack's pid file, when it runs. */
function brokerPid(stackName: string): number | null {
  const file = join(STACK_DIR, stackName, 'kafka.pid');
  const pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : Number.NaN;
  return Number.isInteger(pid) && alive(pid) ? pid : null;
}

/** Fails fast when something to be killed is not there (make dev not running, other ports, an outside broker). */
export function checkTargets(targets: FaultTargets, wanted: readonly Target[]): void {
  const missing: string[] = [];
  for (const t of new Set(wanted)) {
    if (t === 'broker') {
      if (targets.broker === undefined || brokerPid(targets.broker.name) === null) missing.push(`the broker of stack "${targets.broker?.name ?? '-'}" (.stack/<name>/kafka.pid): a broker make dev did not start cannot be restarted by this tool`);
      continue;
    }
    const endpoint = targets.services[t];
    if (endpoint === undefined || listeningPid(endpoint.port) === null) missing.push(`${t} (nothing listens on port ${endpoint?.port ?? '-'})`);
  }
  if (missing.length > 0) throw new FaultError(`cannot kill: ${missing.join('; ')}. Is make dev running (or pass --own)?`);
}

/** Kills `target` with SIGKILL; resolves with the kill time and when it answered again. */
export async function inject(target: Target, targets: FaultTargets, log: (line: string) => void): Promise<{ killedAt: number; upAt: number }> {
  if (target === 'broker') {
    const stack = targets.broker;
    if (stack === undefined) throw new FaultError('no broker this tool can restart');
    const killedAt = Date.now();
    await stopKafka(stack.name, 'SIGKILL');
    log(`kill -9 broker (stack ${stack.name}); restarting in ${targets.brokerDownMs} ms`);
    await delay(targets.brokerDownMs);
    await restartKafka(stack);
    const upAt = Date.now();
    log(`broker answers again after ${upAt - killedAt} ms`);
    return { killedAt, upAt };
  }
  const endpoint = targets.services[target];
  if (endpoint === undefined) throw new FaultError(`no address for ${target}`);
  // A previous kill of the same service may still be restarting: wait for it.
  await waitUntil(`a process listening on port ${endpoint.port} (${target})`, () => listeningPid(endpoint.port) !== null, 120_000);
  const pid = listeningPid(endpoint.port);
  if (pid === null) throw new FaultError(`no process listens on port ${endpoint.port} (${target})`);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  log(`kill -9 ${target} (pid ${pid})`);
  await waitUntil(`${target} (pid ${pid}) to exit`, () => !alive(pid), 10_000);
  // Its supervisor (make dev, or this tool with --own) starts it again.
  await waitUntil(`${target} to answer ${endpoint.healthUrl} again`, async () => listeningPid(endpoint.port) !== pid && (await answers(endpoint.healthUrl)), 120_000);
  const upAt = Date.now();
  log(`${target} answers again after ${upAt - killedAt} ms`);
  return { killedAt, upAt };
}
