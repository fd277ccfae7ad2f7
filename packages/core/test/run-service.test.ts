/**
 * runService with a fake process: exit codes, the configuration-error line, signals, the stop
 * deadline, fatal errors and the ops endpoints it serves. Log lines are parsed as objects.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { ConfigError, EnvReader, runService, type RunningService, type ServiceDefinition, type ServiceHost } from '../src/index.ts';

interface FakeHost extends ServiceHost {
  exits: number[];
  stderr: string[];
  logs: Array<Record<string, unknown>>;
  signal(name: 'SIGTERM' | 'SIGINT'): void;
  crash(err: unknown): void;
  exited: Promise<number>;
}

function fakeHost(): FakeHost {
  const handlers = new Map<string, () => void>();
  let crashHandler: (err: unknown) => void = () => undefined;
  let onExit: (code: number) => void = () => undefined;
  const host: FakeHost = {
    exits: [],
    stderr: [],
    logs: [],
    exited: new Promise<number>((resolve) => (onExit = resolve)),
    exit: (code) => {
      host.exits.push(code);
      onExit(code);
    },
    writeError: (line) => void host.stderr.push(line),
    onSignal: (signal, handler) => void handlers.set(signal, handler),
    onCrash: (handler) => void (crashHandler = handler),
    logDestination: { write: (line: string) => host.logs.push(JSON.parse(line) as Record<string, unknown>) },
    signal: (name) => handlers.get(name)?.(),
    crash: (err) => crashHandler(err),
  };
  return host;
}

interface Config {
  logLevel: string;
  opsHost: string;
  opsPort: number;
}

function definition(overrides: Partial<ServiceDefinition<Config>> = {}, env: Record<string, string> = {}): ServiceDefinition<Config> {
  return {
    name: 'test-service',
    loadConfig: () => {
      const r = new EnvReader(env);
      return r.done({ logLevel: r.string('LOG_LEVEL', 'info'), opsHost: '127.0.0.1', opsPort: r.int('PORT', 0, { max: 65535 }) });
    },
    start: async () => ({ stop: async () => undefined }),
    ...overrides,
  };
}

const messages = (host: FakeHost): unknown[] => host.logs.map((l) => l['msg']);

afterEach(() => {
  vi.useRealTimers();
});

describe('runService', () => {
  it('on a ConfigError prints one line naming every problem on stderr and exits 2, before starting', async () => {
    const host = fakeHost();
    const start = vi.fn();
    await runService(definition({ start }, { PORT: 'x', LOG_LEVEL: '' }), host);
    expect(host.exits).toEqual([2]);
    expect(host.stderr).toEqual(['test-service: invalid configuration: PORT must be an integer, got "x"\n']);
    expect(start).not.toHaveBeenCalled();
    expect(host.logs).toEqual([]);
  });

  it('treats a ConfigError thrown by start as a configuration error too (exit 2)', async () => {
    const host = fakeHost();
    await runService(definition({ start: async () => { throw new ConfigError(['PLAN is invalid', 'match_on is unknown']); } }), host);
    expect(host.exits).toEqual([2]);
    expect(host.stderr).toEqual(['test-service: invalid configuration: PLAN is invalid; match_on is unknown\n']);
  });

  it('logs a failed start as fatal and exits 1', async () => {
    const host = fakeHost();
    await runService(definition({ start: async () => { throw new Error('broker unreachable'); } }), host);
    expect(host.exits).toEqual([1]);
    const fatal = host.logs.find((l) => l['level'] === 'fatal');
    expect(fatal).toMatchObject({ service: 'test-service', msg: 'test-service failed to start', err: { message: 'broker unreachable' } });
  });

  it('stops gracefully on SIGTERM and exits 0', async () => {
    const host = fakeHost();
    const stop = vi.fn(async () => undefined);
    await runService(definition({ start: async () => ({ stop }) }), host);
    expect(host.exits).toEqual([]);
    host.signal('SIGTERM');
    expect(await host.exited).toBe(0);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(messages(host)).toEqual(['stopping', 'stopped']);
    expect(host.logs[0]).toMatchObject({ reason: 'SIGTERM' });
  });

  it('exits 1 when the stop fails', async () => {
    const host = fakeHost();
    await runService(definition({ start: async () => ({ stop: async () => { throw new Error('commit failed'); } }) }), host);
    host.signal('SIGINT');
    expect(await host.exited).toBe(1);
    expect(host.logs.at(-1)).toMatchObject({ level: 'error', msg: 'graceful stop failed', err: { message: 'commit failed' } });
  });

  it('exits 1 when the stop outlasts its deadline', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const host = fakeHost();
    await runService(definition({ stopDeadlineMs: () => 5_000, start: async () => ({ stop: () => new Promise<void>(() => undefined) }) }), host);
    host.signal('SIGTERM');
    vi.advanceTimersByTime(4_999);
    expect(host.exits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(host.exits).toEqual([1]);
    expect(host.logs.at(-1)).toMatchObject({ level: 'error', msg: 'stop did not finish in time: exiting', deadlineMs: 5_000 });
  });

  it('exits 1 at once on a second signal during the stop', async () => {
    const host = fakeHost();
    await runService(definition({ start: async () => ({ stop: () => new Promise<void>(() => undefined) }) }), host);
    host.signal('SIGTERM');
    host.signal('SIGINT');
    expect(host.exits).toEqual([1]);
  });

  it('stops after start when the signal came during it', async () => {
    const host = fakeHost();
    let started!: () => void;
    const stop = vi.fn(async () => undefined);
    const running = runService(definition({ start: () => new Promise<RunningService>((resolve) => (started = () => resolve({ stop }))) }), host);
    await new Promise((r) => setImmediate(r));
    host.signal('SIGTERM');
    expect(host.exits).toEqual([]);
    started();
    await running;
    expect(stop).toHaveBeenCalledTimes(1);
    expect(host.exits).toEqual([0]);
  });

  it('on fail() logs the error as fatal, stops and exits 1', async () => {
    const host = fakeHost();
    const stop = vi.fn(async () => undefined);
    let fail!: (err: unknown, what: string) => void;
    await runService(definition({ start: async (ctx) => { fail = ctx.fail; return { stop }; } }), host);
    fail(new Error('consumer crashed'), 'consumer crashed for good');
    expect(await host.exited).toBe(1);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(host.logs.find((l) => l['level'] === 'fatal')).toMatchObject({ msg: 'consumer crashed for good', err: { message: 'consumer crashed' } });
  });

  it('exits 1 without a stop on an unhandled error', async () => {
    const host = fakeHost();
    const stop = vi.fn(async () => undefined);
    await runService(definition({ start: async () => ({ stop }) }), host);
    host.crash(new Error('oops'));
    expect(host.exits).toEqual([1]);
    expect(stop).not.toHaveBeenCalled();
    expect(host.logs.at(-1)).toMatchObject({ level: 'fatal', msg: 'unhandled error: exiting', err: { message: 'oops' } });
  });

  it('serves the ops endpoints from before start, with what the service hands it, and closes them on stop', async () => {
    const host = fakeHost();
    let ready = false;
    let release!: () => void;
    const registry = new Registry();
    const gate = new Promise<void>((r) => (release = r));
    const running = runService(definition({
      ops: (config) => config,
      start: async ({ serveOps }) => {
        await gate;
        serveOps({ metrics: registry, ready: () => ready });
        return { stop: async () => undefined };
      },
    }), host);
    await vi.waitFor(() => expect(host.logs.some((l) => l['msg'] === 'ops endpoints listening')).toBe(true));
    const port = host.logs.find((l) => l['msg'] === 'ops endpoints listening')!['opsPort'] as number;
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const starting = await fetch(`${base}/readyz`);
    expect(starting.status).toBe(503);
    expect(await starting.json()).toEqual({ ready: false, reason: 'starting' });
    release();
    await running;
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    host.signal('SIGTERM');
    expect(await host.exited).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('serves the routes the service hands it (the monitor\'s /trace) once it has started, 404 before', async () => {
    const host = fakeHost();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = runService(definition({
      ops: (config) => config,
      start: async ({ serveOps }) => {
        await gate;
        serveOps({
          metrics: new Registry(), ready: () => true,
          routes: { '/trace': (_req, res, query) => void res.writeHead(200, { 'content-type': 'text/plain' }).end(`id=${query.get('id')}`) },
        });
        return { stop: async () => undefined };
      },
    }), host);
    await vi.waitFor(() => expect(host.logs.some((l) => l['msg'] === 'ops endpoints listening')).toBe(true));
    const base = `http://127.0.0.1:${host.logs.find((l) => l['msg'] === 'ops endpoints listening')!['opsPort'] as number}`;
    expect((await fetch(`${base}/trace?id=ann`)).status).toBe(404);
    release();
    await running;
    const answer = await fetch(`${base}/trace?id=ann`);
    expect([answer.status, await answer.text()]).toEqual([200, 'id=ann']);
    host.signal('SIGTERM');
    expect(await host.exited).toBe(0);
  });

  it('exits 1 when the ops port is taken', async () => {
    const first = fakeHost();
    await runService(definition({ ops: (config) => config, start: async ({ serveOps }) => { serveOps({ metrics: new Registry(), ready: () => true }); return { stop: async () => undefined }; } }), first);
    const port = first.logs.find((l) => l['msg'] === 'ops endpoints listening')!['opsPort'] as number;
    const second = fakeHost();
    const start = vi.fn();
    await runService(definition({ ops: (config) => config, start }, { PORT: String(port) }), second);
    expect(second.exits).toEqual([1]);
    expect(start).not.toHaveBeenCalled();
    first.signal('SIGTERM');
    expect(await first.exited).toBe(0);
  });
});
