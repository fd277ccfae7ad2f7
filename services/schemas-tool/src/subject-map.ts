/** Reads schemas/subjects.yaml: which .avsc file goes under which subject, at which level. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { valueSubject } from '@cio-pipeline/core';
import { DEFAULT_COMPATIBILITY, isCompatibilityLevel } from './compatibility.ts';
import type { CompatibilityLevel } from './compatibility.ts';
import { SchemaInputError } from './errors.ts';

export interface SubjectEntry {
  /** File name under `<schemas-dir>/avro`. */
  file: string;
  /** Topic without prefix, e.g. `events.canonical`. */
  topic: string;
  /** The subject's level; DEFAULT_COMPATIBILITY (BACKWARD) when the entry names none. */
  compatibility: CompatibilityLevel;
  /** Why this level: rendered into the docs. */
  why: string;
}

export const SUBJECTS_FILE = 'subjects.yaml';

export function loadSubjectMap(schemasDir: string): SubjectEntry[] {
  const path = join(schemasDir, SUBJECTS_FILE);
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SchemaInputError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const list = (doc as { subjects?: unknown } | null)?.subjects;
  if (!Array.isArray(list) || list.length === 0) throw new SchemaInputError(`${path}: "subjects" must be a non-empty list`);
  const problems: string[] = [];
  const entries = list.map((raw: unknown, i): SubjectEntry => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const where = `${path}: subjects[${i}]`;
    for (const key of ['file', 'topic', 'why'] as const) {
      if (typeof e[key] !== 'string' || e[key] === '') problems.push(`${where}.${key} must be a non-empty string`);
    }
    const level = e['compatibility'] ?? DEFAULT_COMPATIBILITY;
    if (!isCompatibilityLevel(level)) problems.push(`${where}.compatibility must be a compatibility level, got ${JSON.stringify(level)}`);
    return {
      file: String(e['file']),
      topic: String(e['topic']),
      compatibility: level as CompatibilityLevel,
      why: String(e['why']),
    };
  });
  const topics = entries.map((e) => e.topic);
  for (const dup of topics.filter((x, i) => topics.indexOf(x) !== i)) problems.push(`${path}: topic ${dup} listed twice`);
  if (problems.length > 0) throw new SchemaInputError(problems.join('\n'));
  return entries;
}

export function subjectFor(entry: SubjectEntry, prefix: string): string {
  return valueSubject(`${prefix}${entry.topic}`);
}
