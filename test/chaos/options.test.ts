import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FAULTS, UsageError, parseOptions, type ChaosOptions } from '../../scripts/chaos/options.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function problems(argv: string[]): string {
  try {
    parseOptions(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe('CHAOS_USAGE');
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('make chaos options', () => {
  it('defaults to make dev on its usual ports, with a schedule that kills each service and the broker', () => {
    const o = parseOptions([]) as ChaosOptions;
    expect(o).toMatchObject({ own: false, people: 100, events: 100, rate: 200, ingestUrl: 'http://127.0.0.1:8080', emulatorUrl: 'http://127.0.0.1:8090', normalizerOpsPort: 9101, sinkOpsPort: 9102 });
    expect(o.faults.map((f) => f.target).sort()).toEqual(['broker', 'ingest', 'normalizer', 'sink']);
    expect(DEFAULT_FAULTS.split(',')).toHaveLength(4);
  });

  it('reads a schedule in time order, and "none" for a calm run', () => {
    const o = parseOptions(['--kill', 'sink@9,normalizer@2.5s', '--own']) as ChaosOptions;
    expect(o.faults).toEqual([{ target: 'normalizer', atS: 2.5 }, { target: 'sink', atS: 9 }]);
    expect((parseOptions(['--kill', 'none']) as ChaosOptions).faults).toEqual([]);
  });

  it('runs many instances and a shared Customer.io limit only in a pipeline of its own', () => {
    expect(parseOptions([])).toMatchObject({ normalizers: 1, sinks: 1, cioRateLimitPerSec: undefined });
    expect(parseOptions(['--own', '--normalizers', '2', '--sinks', '3', '--cio-rate-limit', '20'])).toMatchObject({ normalizers: 2, sinks: 3, cioRateLimitPerSec: 20 });
    expect(problems(['--sinks', '3'])).toContain('need --own');
    expect(problems(['--own', '--sinks', '0', '--cio-rate-limit', 'lots'])).toMatch(/--sinks must be a positive integer[\s\S]*--cio-rate-limit must be a positive number/);
  });

  it('reports every problem at once', () => {
    const message = problems(['--people', '0', '--rate', 'fast', '--kill', 'db@3']);
    expect(message).toContain('--people must be a positive integer');
    expect(message).toContain('--rate must be a positive number');
    expect(message).toContain('"db@3" is not target@seconds');
  });

  it('refuses a broker kill it could not undo, and a kill too late to measure its recovery', () => {
    expect(problems(['--own', '--kafka', 'k:9092', '--registry', 'http://r', '--kill', 'broker@1'])).toContain('a broker kill needs a broker this tool can restart');
    expect(problems(['--kafka', 'k:9092', '--registry', 'http://r', '--kill', 'none'])).toContain('need --own');
    // 10 x 10 at 10/s is a 10 s load: a kill at 9 s leaves too little after it.
    expect(problems(['--people', '10', '--events', '10', '--rate', '10', '--kill', 'sink@9'])).toContain('first 80%');
    expect(problems(['--bogus'])).toContain("Unknown option '--bogus'");
  });

  it('as a command: --help exits 0 on stdout, a usage error exits 2 on stderr', () => {
    const help = spawnSync(process.execPath, ['scripts/chaos/cli.ts', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--kill SCHEDULE');
    const bad = spawnSync(process.execPath, ['scripts/chaos/cli.ts', '--people', 'many'], { cwd: ROOT, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('--people must be a positive integer');
  }, 60_000);
});
