// Against a real Confluent-compatible registry (Apicurio 3's ccompat API or Confluent's).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../src/cli.ts';
import { REPO_ROOT } from '../src/config.ts';
import { RegistryClient } from '../src/registry-client.ts';

const registryUrl = process.env['SCHEMA_REGISTRY_URL'] ?? inject('stack')?.registryUrl;
let registry: RegistryClient;
const tmp = mkdtempSync(join(tmpdir(), 'schemas-int-'));

beforeAll(() => {
  if (!registryUrl) {
    throw new Error('schemas-tool integration tests need a registry: set SCHEMA_REGISTRY_URL (e.g. http://127.0.0.1:8081/apis/ccompat/v7) or run them through the integration project\'s global setup');
  }
  registry = new RegistryClient({ baseUrl: registryUrl });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const prefix = (): string => `t-${randomUUID().slice(0, 8)}-`;

async function schemas(argv: string[]) {
  const out: string[] = [];
  const code = await runCli([...argv, '--registry', registryUrl as string], {}, { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out: out.join('\n') };
}

/** A copy of schemas/ the test may change. */
function schemasCopy(): string {
  const dir = mkdtempSync(join(tmp, 'schemas-'));
  cpSync(join(REPO_ROOT, 'schemas'), dir, { recursive: true });
  return dir;
}

type Field = { name: string; type: unknown; default?: unknown; doc?: string };
type RecordSchema = { type: 'record'; name: string; fields: Field[] };
function editSchema(dir: string, file: string, edit: (s: RecordSchema) => void): void {
  const path = join(dir, 'avro', file);
  const s = JSON.parse(readFileSync(path, 'utf8')) as RecordSchema;
  edit(s);
  writeFileSync(path, JSON.stringify(s, null, 2));
}

const subjectLevels = (parse(readFileSync(join(REPO_ROOT, 'schemas/subjects.yaml'), 'utf8')) as {
  subjects: Array<{ topic: string; compatibility: string }>;
}).subjects;

function canonicalRecord(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: '01JC0000000000000000000000', kind: 'event', name: 'order_completed', customer_id: 'c-1',
    anonymous_id: null, email: 'a@example.com', occurred_at: 1_700_000_000_000, received_at: 1_700_000_000_500,
    source: 'shopify', source_event_id: 'o-1', source_type: 'orders/create', tracking_version: '2026.11.1',
    schema_version: 1, tier: 1, validation_warnings: [],
    commerce: { order_id: 'o-1', checkout_id: null, cart_id: null, product_id: null, variant_id: null, sku: null,
      subscription_id: null, charge_id: null, price: null, quantity: null, value: null, total: 42.5, subtotal: null,
      tax: null, discount: null, currency: 'EUR', items: [] },
    properties: {}, attributes: {}, merge: null, ...extra,
  };
}

describe('schemas register / check against a real registry', () => {
  it('registers every project schema at its level, then check passes', async () => {
    const p = prefix();
    const registered = await schemas(['register', '--prefix', p]);
    expect(registered.code, registered.out).toBe(0);
    for (const { topic, compatibility } of subjectLevels) {
      const subject = `${p}${topic}-value`;
      expect(await registry.getSubjectLevel(subject), subject).toBe(compatibility);
      expect(await registry.listVersions(subject), subject).toEqual([1]);
    }
    const checked = await schemas(['check', '--prefix', p]);
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out.match(/^ok {3}.*: unchanged \(latest version 1\)$/gm)).toHaveLength(subjectLevels.length);
    // Registering again changes nothing.
    expect((await schemas(['register', '--prefix', p])).code).toBe(0);
    expect(await registry.listVersions(`${p}events.canonical-value`)).toEqual([1]);
  });

  it('accepts an added optional field; old and new consumers read each other\'s records', async () => {
    const p = prefix();
    const dir = schemasCopy();
    expect((await schemas(['register', '--prefix', p, '--schemas-dir', dir])).code).toBe(0);
    editSchema(dir, 'canonical-event.avsc', (s) => {
      s.fields.push({ name: 'coupon_code', type: ['null', 'string'], default: null, doc: 'Discount code used, if any.' });
    });
    const checked = await schemas(['check', '--prefix', p, '--schemas-dir', dir]);
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out).toContain(`ok   ${p}events.canonical-value FULL_TRANSITIVE: compatible (latest version 1)`);
    const registered = await schemas(['register', '--prefix', p, '--schemas-dir', dir]);
    expect(registered.code, registered.out).toBe(0);

    const subject = `${p}events.canonical-value`;
    expect(await registry.listVersions(subject)).toEqual([1, 2]);
    const oldType = avro.Type.forSchema(JSON.parse((await registry.getVersion(subject, 1))!.schema) as Schema);
    const newType = avro.Type.forSchema(JSON.parse((await registry.getVersion(subject, 2))!.schema) as Schema);

    // An old consumer (built on version 1) reads a record written with version 2.
    const newRecord = canonicalRecord({ coupon_code: 'WELCOME10' });
    const readByOld = oldType.fromBuffer(newType.toBuffer(newRecord), oldType.createResolver(newType)) as Record<string, unknown>;
    expect(readByOld['event_id']).toBe(newRecord['event_id']);
    expect((readByOld['commerce'] as { total: number }).total).toBe(42.5);
    expect(readByOld).not.toHaveProperty('coupon_code');

    // A new consumer reads a record written with version 1: the new field takes its default.
    const oldRecord = canonicalRecord();
    const readByNew = newType.fromBuffer(oldType.toBuffer(oldRecord), newType.createResolver(oldType)) as Record<string, unknown>;
    expect(readByNew['coupon_code']).toBeNull();
    expect(readByNew['email']).toBe('a@example.com');
  });

  it('rejects removing a field without a default, naming the field, and registers nothing', async () => {
    const p = prefix();
    const dir = schemasCopy();
    expect((await schemas(['register', '--prefix', p, '--schemas-dir', dir])).code).toBe(0);
    editSchema(dir, 'canonical-event.avsc', (s) => {
      s.fields = s.fields.filter((f) => f.name !== 'source');
    });
    const checked = await schemas(['check', '--prefix', p, '--schemas-dir', dir]);
    expect(checked.code, checked.out).toBe(1);
    expect(checked.out).toContain(`FAIL ${p}events.canonical-value FULL_TRANSITIVE: incompatible (latest version 1)`);
    expect(checked.out).toContain(`${p}events.canonical-value: field "source" removed without a default (breaks readers of version 1)`);

    const registered = await schemas(['register', '--prefix', p, '--schemas-dir', dir]);
    expect(registered.code).toBe(1);
    expect(registered.out).toContain('field "source" removed without a default');
    expect(await registry.listVersions(`${p}events.canonical-value`)).toEqual([1]);
    // The registry agrees with the local account.
    const verdict = await registry.testCompatibility(`${p}events.canonical-value`, readFileSync(join(dir, 'avro/canonical-event.avsc'), 'utf8'));
    expect(verdict.compatible).toBe(false);
  });

  it('raw topics are BACKWARD_TRANSITIVE: the upgraded normalizer may stop reading a field', async () => {
    const p = prefix();
    const dir = schemasCopy();
    expect((await schemas(['register', '--prefix', p, '--schemas-dir', dir])).code).toBe(0);
    editSchema(dir, 'raw-shopify.avsc', (s) => {
      s.fields = s.fields.filter((f) => f.name !== 'topic');
    });
    const checked = await schemas(['check', '--prefix', p, '--schemas-dir', dir]);
    expect(checked.code, checked.out).toBe(0);
    // Adding a required field to a raw topic breaks reading what is already there.
    editSchema(dir, 'raw-shopify.avsc', (s) => {
      s.fields.push({ name: 'shop_id', type: 'string' });
    });
    const failed = await schemas(['check', '--prefix', p, '--schemas-dir', dir]);
    expect(failed.code).toBe(1);
    expect(failed.out).toContain(`${p}raw.shopify-value: field "shop_id" added without a default (cannot read data written with version 1)`);
  });

  it('rejects a type change with exit code 1 from the real command, naming the nested field', async () => {
    const p = prefix();
    const dir = schemasCopy();
    expect((await schemas(['register', '--prefix', p, '--schemas-dir', dir])).code).toBe(0);
    editSchema(dir, 'canonical-event.avsc', (s) => {
      const commerce = s.fields.find((f) => f.name === 'commerce')!;
      const record = (commerce.type as unknown[])[1] as RecordSchema;
      record.fields.find((f) => f.name === 'total')!.type = ['null', 'string'];
    });
    const cli = join(REPO_ROOT, 'services/schemas-tool/src/cli.ts');
    const result = await promisify(execFile)(process.execPath, [cli, 'check', '--prefix', p, '--schemas-dir', dir], {
      env: { ...process.env, SCHEMA_REGISTRY_URL: registryUrl },
    }).then(() => ({ code: 0, stdout: '' }), (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `${p}events.canonical-value: field "commerce.total" changed type null | double -> null | string (breaks readers of version 1; cannot read data written with version 1)`,
    );
  });

  it('docs lists every event with its aliases, tier and required properties', async () => {
    const out = join(tmp, 'tracking-plan.md');
    expect((await schemas(['docs', '--out', out])).code).toBe(0);
    const md = readFileSync(out, 'utf8');
    const plan = parse(readFileSync(join(REPO_ROOT, 'schemas/tracking-plan.yaml'), 'utf8')) as {
      events: Record<string, { tier: number; aliases: string[]; required: string[] }>;
    };
    for (const [name, ev] of Object.entries(plan.events)) {
      const row = md.split('\n').find((l) => l.startsWith(`| [\`${name}\`]`));
      expect(row, name).toBeDefined();
      expect(row).toContain(` | ${ev.tier} | `);
      for (const a of ev.aliases) expect(row).toContain(`\`${a}\``);
      for (const r of ev.required) expect(row).toContain(`\`${r}\` (`);
    }
  });
});
