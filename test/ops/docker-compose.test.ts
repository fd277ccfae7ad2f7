/**
 * What docker-compose.yml promises (issues 13 and 15), read from the file itself: `make
 * compose-check` proves it renders; these prove what it exposes, where secrets come from, and
 * that a supervisor restarts and health-checks each service.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SERVICE_NODE_OPTIONS } from '../../scripts/service-node-options.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  restart?: string;
  environment?: Record<string, string>;
  healthcheck?: { test: string[] | string; start_period?: string };
}

const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const APP_SERVICES = ['ingest', 'normalizer', 'sink', 'monitor', 'emulator'];
const SECRET_VARIABLES = ['SHOPIFY_WEBHOOK_SECRETS', 'RECHARGE_WEBHOOK_SECRETS', 'APP_WRITE_KEYS', 'CIO_API_KEY', 'GF_SECURITY_ADMIN_PASSWORD'];

describe('docker-compose.yml', () => {
  it('publishes only ingest and Grafana, on loopback unless told otherwise', () => {
    const published = Object.entries(services).filter(([, s]) => (s.ports ?? []).length > 0).map(([name]) => name).sort();
    expect(published).toEqual(['grafana', 'ingest']);
    for (const name of published) {
      for (const port of services[name]!.ports!) expect(port).toMatch(/^\$\{PUBLISH_ADDRESS:-127\.0\.0\.1\}:/);
    }
  });

  it('turns ingest\'s per-address guards off: every client arrives from Docker\'s gateway address', () => {
    // One attacker's failed signatures would otherwise block every source for the penalty's length.
    expect(services['ingest']!.environment).toMatchObject({ INGEST_MAX_REFUSALS_PER_ADDRESS_PER_S: '0', INGEST_MAX_INFLIGHT_PER_ADDRESS: '2000' });
  });

  it('runs each service with the Node options make dev and the benchmarks give it', () => {
    // Young generations sized for each service's memory budget (scripts/service-node-options.ts).
    for (const [name, options] of Object.entries(SERVICE_NODE_OPTIONS)) expect(services[name]!.environment?.['NODE_OPTIONS'], name).toBe(options);
  });

  it('takes every secret from the environment, required, never written in the file', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!SECRET_VARIABLES.includes(key)) continue;
        expect(String(value), `${name}.${key}`).toMatch(/^\$\{[A-Z_]+:\?[^}]+\}$/);
      }
    }
    expect(services['ingest']!.environment!['APP_WRITE_KEYS']).toBeDefined();
    expect(services['sink']!.environment!['CIO_API_KEY']).toBeDefined();
  });

  it('has no anonymous access to Grafana', () => {
    const env = services['grafana']!.environment!;
    expect(env['GF_AUTH_ANONYMOUS_ENABLED']).toBe('false');
    expect(env['GF_SECURITY_ADMIN_PASSWORD']).toMatch(/:\?/);
  });

  it('restarts every long-running service, and health-checks each app service on its /readyz', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.restart, name).toBe(name === 'schemas' ? 'on-failure' : 'unless-stopped');
    }
    for (const name of APP_SERVICES) {
      const service = services[name]!;
      expect(service.healthcheck, name).toBeDefined();
      const url = service.environment!['HEALTH_URL']!;
      expect(url, name).toMatch(name === 'emulator' ? /\/healthz$/ : /\/readyz$/);
      expect(JSON.stringify(service.healthcheck!.test)).toContain('process.env.HEALTH_URL');
    }
  });

  it('counts Kafka healthy only once the group and transaction coordinators answer', () => {
    const test = JSON.stringify(services['kafka']!.healthcheck!.test);
    expect(test).toContain('kafka-consumer-groups.sh');
    expect(test).toContain('kafka-transactions.sh');
  });

  it('keeps Kafka data (and so the registry\'s _schemas) in a volume', () => {
    expect(services['kafka']!.environment!['KAFKA_LOG_DIRS']).toBe('/var/lib/kafka/data');
    expect(JSON.stringify(services['kafka'])).toContain('kafka-data:/var/lib/kafka/data');
  });

  it('has an example env file that names every required variable, with placeholders only', () => {
    const text = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');
    const required = [...text.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]!);
    const example = readFileSync(`${ROOT}.env.example`, 'utf8');
    const set = new Map([...example.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    for (const name of new Set(required)) {
      expect(set.has(name), `${name} in .env.example`).toBe(true);
      expect(set.get(name), name).toMatch(/replace-with/);
    }
    expect(readFileSync(`${ROOT}.gitignore`, 'utf8').split('\n')).toContain('.env');
  });
});

describe('the image', () => {
  const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');

  it('copies every workspace\'s package.json before npm ci', () => {
    const workspaces = ['packages', 'services'].flatMap((dir) => readdirSync(`${ROOT}${dir}`).map((name) => `${dir}/${name}`))
      .filter((ws) => existsSync(`${ROOT}${ws}/package.json`));
    expect(workspaces).toContain('services/monitor');
    const npmCi = dockerfile.indexOf('RUN npm ci');
    for (const ws of workspaces) {
      const copy = dockerfile.indexOf(`COPY ${ws}/package.json ${ws}/`);
      expect(copy, ws).toBeGreaterThan(-1);
      expect(copy, ws).toBeLessThan(npmCi);
    }
  });

  it('runs every service on jemalloc, installed and preloaded from the path it links', () => {
    const linked = /ln -s .*libjemalloc\.so\.2.* (\S+libjemalloc\.so\.2)$/m.exec(dockerfile)?.[1];
    expect(dockerfile).toMatch(/apt-get install [^\n]*libjemalloc2/);
    expect(linked).toBeDefined();
    expect(dockerfile).toContain(`ENV LD_PRELOAD=${linked}`);
  });

  it('leaves secrets, dependencies and local state out of the build context', () => {
    const ignored = readFileSync(`${ROOT}.dockerignore`, 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['.git', '.env', 'node_modules', '.stack', '.tools']) expect(ignored).toContain(entry);
  });
});
