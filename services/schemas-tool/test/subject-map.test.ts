import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_COMPATIBILITY } from '../src/compatibility.ts';
import { REPO_ROOT } from '../src/config.ts';
import { loadSubjectMap } from '../src/subject-map.ts';

const dir = mkdtempSync(join(tmpdir(), 'subject-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(yaml: string): string {
  writeFileSync(join(dir, 'subjects.yaml'), yaml);
  return dir;
}

describe('subjects.yaml', () => {
  it('gives a subject without a level BACKWARD, Confluent\'s default (issue 15)', () => {
    expect(DEFAULT_COMPATIBILITY).toBe('BACKWARD');
    const entries = loadSubjectMap(write('subjects:\n  - { file: a.avsc, topic: new.topic, why: a new topic }\n'));
    expect(entries[0]!.compatibility).toBe('BACKWARD');
  });

  it('keeps an explicit level, and refuses one that is not a level', () => {
    expect(loadSubjectMap(write('subjects:\n  - { file: a.avsc, topic: t, compatibility: FULL_TRANSITIVE, why: w }\n'))[0]!.compatibility).toBe('FULL_TRANSITIVE');
    expect(() => loadSubjectMap(write('subjects:\n  - { file: a.avsc, topic: t, compatibility: SOMETIMES, why: w }\n'))).toThrow(/compatibility must be a compatibility level, got "SOMETIMES"/);
  });

  it('names a level for every subject of the project explicitly', () => {
    const raw = parse(readFileSync(join(REPO_ROOT, 'schemas/subjects.yaml'), 'utf8')) as { subjects: Array<{ compatibility?: string }> };
    for (const s of raw.subjects) expect(s.compatibility).toBeDefined();
  });
});
