/**
 * What the Kubernetes manifests promise (issue 15), read from the files: `make k8s-check`
 * validates them against the API's schemas; these check the choices schemas cannot see.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';

const DIR = new URL('../../infra/k8s/', import.meta.url).pathname;

interface Container {
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: unknown;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Resource {
  kind: string;
  metadata: { name: string };
  spec: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { spec: { containers: Container[] } };
    minAvailable?: number;
    maxUnavailable?: number;
  };
}

const kustomization = parse(readFileSync(`${DIR}kustomization.yaml`, 'utf8')) as { resources: string[] };
const resources: Resource[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(`${DIR}${file}`, 'utf8')).map((d) => d.toJS() as Resource));
const deployments = resources.filter((r) => r.kind === 'Deployment');
const byName = (kind: string, name: string) => resources.find((r) => r.kind === kind && r.metadata.name === name);
const SECRET_NAMES = ['SHOPIFY_WEBHOOK_SECRETS', 'RECHARGE_WEBHOOK_SECRETS', 'APP_WRITE_KEYS', 'CIO_SITE_ID', 'CIO_API_KEY', 'MONITOR_WEBHOOK_URL'];

describe('infra/k8s', () => {
  it('lists every manifest but the examples in kustomization.yaml', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && !f.includes('.example.'));
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('deploys every service with its replicas: the monitor alone, the others at least two', () => {
    const replicas = Object.fromEntries(deployments.map((d) => [d.metadata.name, d.spec.replicas]));
    expect(replicas).toEqual({ ingest: 2, normalizer: 2, sink: 2, monitor: 1 });
  });

  it('gives each container a readiness probe on /readyz, a liveness probe, and resource requests and limits', () => {
    for (const d of deployments) {
      for (const c of d.spec.template!.spec.containers) {
        expect(c.readinessProbe?.httpGet?.path, d.metadata.name).toBe('/readyz');
        expect(c.livenessProbe, d.metadata.name).toBeDefined();
        expect(Object.keys(c.resources?.requests ?? {}).sort(), d.metadata.name).toEqual(['cpu', 'memory']);
        expect(Object.keys(c.resources?.limits ?? {}).sort(), d.metadata.name).toEqual(['cpu', 'memory']);
      }
    }
  });

  it('turns ingest\'s per-address guards off behind the ingress, which limits per client instead', () => {
    const env = byName('Deployment', 'ingest')!.spec.template!.spec.containers[0]!.env ?? [];
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    expect([value('INGEST_MAX_REFUSALS_PER_ADDRESS_PER_S'), value('INGEST_MAX_INFLIGHT_PER_ADDRESS')]).toEqual(['0', '2000']);
    const ingress = parse(readFileSync(`${DIR}ingress.example.yaml`, 'utf8')) as { metadata: { annotations: Record<string, string> } };
    expect(ingress.metadata.annotations).toHaveProperty(['nginx.ingress.kubernetes.io/limit-rps']);
  });

  it('has a PodDisruptionBudget selecting each deployment\'s pods', () => {
    for (const d of deployments) {
      const pdb = byName('PodDisruptionBudget', d.metadata.name);
      expect(pdb, d.metadata.name).toBeDefined();
      expect(pdb!.spec.selector?.matchLabels).toEqual(d.spec.selector?.matchLabels);
      expect(pdb!.spec.minAvailable !== undefined || pdb!.spec.maxUnavailable !== undefined).toBe(true);
    }
  });

  it('takes secrets only from the Secret, never as literal values', () => {
    for (const d of deployments) {
      for (const c of d.spec.template!.spec.containers) {
        for (const e of c.env ?? []) {
          if (!SECRET_NAMES.includes(e.name)) continue;
          expect(e.value, `${d.metadata.name} ${e.name}`).toBeUndefined();
          expect(e.valueFrom?.secretKeyRef).toMatchObject({ name: 'cio-pipeline-secrets', key: e.name });
        }
      }
    }
  });

  it('does not deploy the emulator: the sink talks to Customer.io', () => {
    expect(deployments.map((d) => d.metadata.name)).not.toContain('emulator');
    const sinkEnv = byName('Deployment', 'sink')!.spec.template!.spec.containers[0]!.env!;
    expect(sinkEnv.find((e) => e.name === 'CIO_TRACK_URL')?.value).toMatch(/^https:\/\//);
  });
});
