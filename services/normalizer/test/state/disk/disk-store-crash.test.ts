import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createDiskStoreConfig } from '../../../src/state/disk/config.ts';
import { DiskStore } from '../../../src/state/disk/disk-store.ts';

const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const LARGE_BATCH = 100_000;
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the writer until it prints `line`, waits `delayMs`, then SIGKILLs it. Returns what it printed. */
function runAndKill(dir: string, mode: string, line: string, delayMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes(`${line}\n`)) setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(out);
      else reject(new Error(`writer exited with ${code} before being killed: ${err.slice(-2000)}`));
    });
  });
}

describe('DiskStore after kill -9', () => {
  it('has what was committed, with its offsets, and nothing that was only staged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'disk-store-crash-'));
    dirs.push(dir);
    await runAndKill(dir, 'staged', 'READY', 0);

    const store = await DiskStore.open(createDiskStoreConfig({ dir }));
    try {
      expect(store.offsets()).toEqual(new Map([['identity:0', 100n], ['journey:3', 1n]]));
      for (let i = 0; i < 100; i++) expect(store.get(`n:email:a${i}@example.com`)).toBe(`customer_id:cus_${i}`);
      expect(store.get('n:email:b@example.com')).toBeNull();
      expect(await store.sweepExpired(2_000)).toEqual(['c:cart']);
    } finally {
      await store.close();
    }
  });

  // Killed before, during or after the batch reaches LevelDB's log: all of it or none of it, and
  // the offsets always say which.
  it.each([
    ['COMMITTING', 0], ['COMMITTING', 40], ['COMMITTING', 150], ['COMMITTED', 0],
  ] as const)('keeps a large commit all or nothing, offsets included (killed after %s + %i ms)', async (line, delayMs) => {
    const dir = mkdtempSync(join(tmpdir(), 'disk-store-crash-'));
    dirs.push(dir);
    const out = await runAndKill(dir, 'mid-commit', line, delayMs);

    const store = await DiskStore.open(createDiskStoreConfig({ dir }));
    try {
      const offset = store.offsets().get('identity:0');
      const committed = offset === 2n;
      // Killed before it said COMMITTED, the batch may still have reached the log (a fast disk
      // writes it within the delay): either whole or absent, which the checks below hold it to.
      if (out.includes('COMMITTED')) expect(committed).toBe(true);
      else expect([1n, 2n]).toContain(offset);
      expect(store.get('k:base')).toBe(committed ? 'replaced' : 'base');
      let present = 0;
      for (let i = 0; i < LARGE_BATCH; i += 997) if (store.get(`k:batch:${i}`) !== null) present++;
      expect(present).toBe(committed ? Math.ceil(LARGE_BATCH / 997) : 0);
      expect(store.get(`k:batch:${LARGE_BATCH - 1}`)).toBe(committed ? `value-${LARGE_BATCH - 1}` : null);
      expect((await store.sweepExpired(Number.MAX_SAFE_INTEGER, LARGE_BATCH)).length).toBe(committed ? LARGE_BATCH : 0);
    } finally {
      await store.close();
    }
  });
});
