/**
 * A process that writes to a DiskStore and is then killed with SIGKILL by disk-store-crash.test.ts.
 * It says on stdout how far it got; the test kills it at that point and reopens the store.
 *   node crash-writer.ts <dir> staged       commit A with offsets, stage B, then wait to be killed
 *   node crash-writer.ts <dir> mid-commit   commit a base, then a large batch; killed while writing
 */
import { createDiskStoreConfig } from '../../../src/state/disk/config.ts';
import { DiskStore } from '../../../src/state/disk/disk-store.ts';

// The test reads back the same count.
const LARGE_BATCH = 100_000;

const [dir, mode] = process.argv.slice(2);
const store = await DiskStore.open(createDiskStoreConfig({ dir: dir! }));
const say = (line: string): void => { process.stdout.write(`${line}\n`); };

if (mode === 'staged') {
  for (let i = 0; i < 100; i++) store.put(`n:email:a${i}@example.com`, `customer_id:cus_${i}`);
  store.put('c:cart', 'open', { expiresAt: 1_000 });
  await store.commit(new Map([['identity:0', 100n], ['journey:3', 1n]]));
  store.put('n:email:b@example.com', 'customer_id:cus_b');
  store.delete('n:email:a0@example.com');
  say('READY');
} else if (mode === 'mid-commit') {
  store.put('k:base', 'base');
  await store.commit(new Map([['identity:0', 1n]]));
  for (let i = 0; i < LARGE_BATCH; i++) store.put(`k:batch:${i}`, `value-${i}`, { expiresAt: 5_000 + i });
  store.put('k:base', 'replaced');
  say('COMMITTING');
  await store.commit(new Map([['identity:0', 2n]]));
  say('COMMITTED');
}
// Killed from outside, never closed: no chance to flush anything more.
setInterval(() => undefined, 1_000);
