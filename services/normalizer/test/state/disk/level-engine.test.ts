import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDiskStoreConfig } from '../../../src/state/disk/config.ts';
import { openLevelEngine, type KvEngine } from '../../../src/state/disk/level-engine.ts';

const dirs: string[] = [];
const engines: KvEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(dir: string): Promise<KvEngine> {
  const engine = await openLevelEngine(createDiskStoreConfig({ dir }));
  engines.push(engine);
  return engine;
}

describe('the LevelDB engine\'s batches (puts go to the native batch directly)', () => {
  it('writes a batch of puts alone, with any characters, and it is there after a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'level-engine-'));
    dirs.push(dir);
    const engine = await open(dir);
    const entries: Array<[string, string]> = [['n:anonymous_id:a\u001f1', 'customer_id:c1'], ['n:email:é@x.io', '\u00011customer_id:c1'], ['~m:customer_id:c1', '0|0|']];
    await engine.write((batch) => { for (const [k, v] of entries) batch.put(k, v); });
    for (const [k, v] of entries) expect(engine.getSync(k)).toBe(v);
    await engine.close();
    engines.splice(0);
    const reopened = await open(dir);
    for (const [k, v] of entries) expect(reopened.getSync(k)).toBe(v);
    // The op that makes the batch count leaves nothing behind.
    expect(reopened.getSync('\u0000m:noop')).toBeUndefined();
  });

  it('applies puts and deletes of one batch in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'level-engine-'));
    dirs.push(dir);
    const engine = await open(dir);
    await engine.write((batch) => {
      batch.put('a', '1');
      batch.put('b', '2');
    });
    await engine.write((batch) => {
      batch.del('a');
      batch.put('b', '3');
      batch.put('c', '4');
    });
    expect([engine.getSync('a'), engine.getSync('b'), engine.getSync('c')]).toEqual([undefined, '3', '4']);
  });
});
