import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.ts';
import { REPO_ROOT } from '../src/config.ts';

async function run(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const tmp = mkdtempSync(join(tmpdir(), 'schemas-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('schemas CLI', () => {
  it('exits 2 with usage on a missing or unknown command or flag', async () => {
    for (const argv of [[], ['bogus'], ['check', '--nope'], ['check', '--check']]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain('usage: schemas');
    }
  });

  it('exits 2 naming a bad registry URL', async () => {
    const r = await run(['check'], { SCHEMA_REGISTRY_URL: 'not a url' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('SCHEMA_REGISTRY_URL must be a URL');
  });

  it('exits 2 when the registry cannot be reached', async () => {
    const r = await run(['check', '--registry', 'http://127.0.0.1:1/apis/ccompat/v7']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/GET http:\/\/127\.0\.0\.1:1\/apis\/ccompat\/v7\/subjects\/raw\.shopify-value\/versions/);
  });

  it('exits 2 with the registry message on a registry error', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 50001, message: 'storage is down' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const r = await run(['register', '--registry', `http://127.0.0.1:${port}`]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('HTTP 500: storage is down');
    } finally {
      server.close();
    }
  });

  it('codegen --check and docs --check exit 1 when the file is stale, 0 once written', async () => {
    for (const command of ['codegen', 'docs']) {
      const file = join(tmp, `${command}.out`);
      writeFileSync(file, 'stale\n');
      const stale = await run([command, '--check', '--out', file]);
      expect(stale.code, command).toBe(1);
      expect(stale.err).toContain('is stale');
      expect((await run([command, '--out', file])).code).toBe(0);
      expect((await run([command, '--check', '--out', file])).code).toBe(0);
    }
  });

  it('codegen follows a schema change', async () => {
    const dir = join(tmp, 'schemas');
    cpSync(join(REPO_ROOT, 'schemas'), dir, { recursive: true });
    const file = join(dir, 'avro', 'raw-app.avsc');
    const schema = JSON.parse(readFileSync(file, 'utf8')) as { fields: unknown[] };
    schema.fields.push({ name: 'locale', type: ['null', 'string'], default: null, doc: 'Browser locale.' });
    writeFileSync(file, JSON.stringify(schema));
    const out = join(tmp, 'types.ts');
    expect((await run(['codegen', '--schemas-dir', dir, '--out', out])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('  locale: null | string;');
    // The checked-in types do not have it, so checking them against the changed schemas fails.
    expect((await run(['codegen', '--check', '--schemas-dir', dir])).code).toBe(1);
  });

  it('docs --check exits 2 naming the field when the normalizer would refuse the plan', async () => {
    const dir = join(tmp, 'bad-plan');
    cpSync(join(REPO_ROOT, 'schemas'), dir, { recursive: true });
    const file = join(dir, 'tracking-plan.yaml');
    const text = readFileSync(file, 'utf8');
    const bad = text.replace('match_on: [checkout_id, cart_id]', 'match_on: [checkout_id, cart_id, order_id]');
    expect(bad).not.toBe(text);
    writeFileSync(file, bad);
    const r = await run(['docs', '--check', '--schemas-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('order_guards[0].match_on: "order_id" cannot be matched');
  });

  it('docs lists every event of the plan with its aliases, tier and required properties', async () => {
    const out = join(tmp, 'plan.md');
    expect((await run(['docs', '--out', out])).code).toBe(0);
    const md = readFileSync(out, 'utf8');
    const plan = parse(readFileSync(join(REPO_ROOT, 'schemas/tracking-plan.yaml'), 'utf8')) as {
      events: Record<string, { tier: number; aliases: string[]; required: string[]; dedupe_key?: string[]; anonymous: string }>;
    };
    for (const [name, ev] of Object.entries(plan.events)) {
      const section = md.split(`### ${name}\n`)[1]?.split('\n### ')[0] ?? '';
      expect(section, name).not.toBe('');
      expect(section).toContain(`- Tier: ${ev.tier}`);
      expect(section).toContain(`- Aliases: ${ev.aliases.map((a) => `\`${a}\``).join(', ')}`);
      expect(section).toContain(`- Anonymous: \`${ev.anonymous}\``);
      for (const p of ev.required) expect(section).toMatch(new RegExp(`\\| \`${p}\` \\| \\w+ \\| yes \\|`));
      for (const k of ev.dedupe_key ?? []) expect(section).toContain(`- Dedupe key: \`${k}\``);
    }
    expect(md).toContain('## Order guards');
    expect(md).toContain('After `order_completed`: `checkout_started`, `added_to_cart` for the same `checkout_id` or `cart_id` are suppressed');
    expect(md).toContain('## Bot rules');
    expect(md).toContain('npm `isbot`');
    expect(md).toMatch(/\| `events\.canonical` \| `schemas\/avro\/canonical-event\.avsc` \| `FULL_TRANSITIVE` \| Old and new sinks both read it/);
    expect(md).toMatch(/\| `raw\.shopify` \| `schemas\/avro\/raw-shopify\.avsc` \| `BACKWARD_TRANSITIVE` \| Only the normalizer reads raw topics/);
  });
});
