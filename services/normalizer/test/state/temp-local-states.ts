import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { LocalState } from '../../src/state/local-state.ts';

/**
 * Temporary state directories for one test file, and the local states opened on them (push them
 * on `open`): after each test every one still open is closed and every directory removed.
 */
export function tempLocalStates(prefix: string): { dirs: string[]; open: LocalState[]; newDir: () => string } {
  const dirs: string[] = [];
  const open: LocalState[] = [];
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close().catch(() => undefined);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const newDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  return { dirs, open, newDir };
}
