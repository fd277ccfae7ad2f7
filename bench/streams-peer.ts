/**
 * The Kafka Streams peer (bench/streams-peer/, a Maven project): built from Maven Central with the
 * machine's Java 17 and Maven on first use, then run as a child JVM over the raw topics the
 * normalizer benchmark wrote. It prints one `RESULT {json}` line, read here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT = fileURLToPath(new URL('./streams-peer/', import.meta.url));
const JAR = join(PROJECT, 'target', 'streams-peer.jar');
const RESULT = 'RESULT ';

export type StreamsTopology = 'pass-through' | 'decode-dedupe';

export interface StreamsPeerResult {
  variant: StreamsTopology;
  records: number;
  out: number;
  duplicates: number;
  seconds: number;
  recordsPerSecond: number;
  cpuSeconds: number;
  gcSeconds: number;
  commits: number;
  threads: number;
  startupMs: number;
  peakRssMb: number;
}

export class StreamsPeerError extends Error {
  readonly code: 'STREAMS_PEER_BUILD_FAILED' | 'STREAMS_PEER_RUN_FAILED';
  constructor(code: StreamsPeerError['code'], message: string) {
    super(`${code}: ${message}`);
    this.name = 'StreamsPeerError';
    this.code = code;
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'target') continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** `mvn -q package` when the jar is missing or older than its sources (the shared ~/.m2 cache keeps reruns offline). */
export function buildStreamsPeer(): void {
  if (existsSync(JAR) && statSync(JAR).mtimeMs >= newestSource(PROJECT)) return;
  process.stdout.write('building the Kafka Streams peer (mvn -q package, bench/streams-peer)\n');
  // Quiet unless it fails: even -q -B prints colour resets.
  const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', join(PROJECT, 'pom.xml'), 'package'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (mvn.error) throw new StreamsPeerError('STREAMS_PEER_BUILD_FAILED', `cannot run mvn (install Maven and a JDK 17): ${mvn.error.message}`);
  if (mvn.status !== 0) throw new StreamsPeerError('STREAMS_PEER_BUILD_FAILED', `mvn package exited ${mvn.status}:\n${mvn.stdout}${mvn.stderr}`);
}

export function runStreamsPeer(opts: {
  topology: StreamsTopology; brokers: string; registryUrl: string; applicationId: string;
  inputs: string[]; output: string; expected: number; threads?: number;
}): Promise<StreamsPeerResult> {
  const args = [
    // A fixed heap: the JVM would otherwise size itself to a quarter of the machine's memory.
    '-Xms256m', '-Xmx1g',
    '-cp', `${JAR}:${join(PROJECT, 'target', 'lib', '*')}`, 'bench.streams.StreamsPeer',
    '--variant', opts.topology, '--brokers', opts.brokers, '--registry', opts.registryUrl,
    '--application-id', opts.applicationId, '--inputs', opts.inputs.join(','), '--output', opts.output,
    '--expected', String(opts.expected), '--threads', String(opts.threads ?? 1), '--commit-interval-ms', '100',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.once('error', (err) => reject(new StreamsPeerError('STREAMS_PEER_RUN_FAILED', `cannot run java: ${err.message}`)));
    child.once('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
      if (code !== 0 || line === undefined) reject(new StreamsPeerError('STREAMS_PEER_RUN_FAILED', `${opts.topology} exited ${code}: ${stdout.slice(-2000)}`));
      else resolve(JSON.parse(line.slice(RESULT.length)) as StreamsPeerResult);
    });
  });
}
