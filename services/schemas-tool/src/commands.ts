/**
 * The schemas commands: check, register, docs, codegen. Each returns an exit code
 * (0 ok, 1 incompatible or stale, 2 usage or registry error is thrown and mapped by the CLI).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { generateTypes, loadSchemaFiles } from './codegen.ts';
import { DEFAULT_COMPATIBILITY, checkCompatibility } from './compatibility.ts';
import type { CompatibilityLevel } from './compatibility.ts';
import type { SchemasToolConfig } from './config.ts';
import { REPO_ROOT } from './config.ts';
import { loadTrackingPlan, renderTrackingPlanDocs } from './docs.ts';
import { SchemaInputError } from './errors.ts';
import type { RegistryClient } from './registry-client.ts';
import { loadSubjectMap, subjectFor } from './subject-map.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_ERROR = 2;

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export interface SubjectCheck {
  subject: string;
  level: CompatibilityLevel;
  /** The schema as registered: compact JSON of the .avsc file. */
  schema: string;
  status: 'new' | 'unchanged' | 'compatible' | 'incompatible';
  latestVersion: number | undefined;
  messages: string[];
  /** Set when the registry's level for the subject differs from subjects.yaml. */
  registryLevel: CompatibilityLevel | null;
}

interface LoadedSubject { subject: string; level: CompatibilityLevel; schema: string }

function loadSubjects(config: SchemasToolConfig): LoadedSubject[] {
  return loadSubjectMap(config.schemasDir).map((entry) => {
    const path = join(config.schemasDir, 'avro', entry.file);
    let parsed: Schema;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as Schema;
      avro.Type.forSchema(parsed);
    } catch (err) {
      throw new SchemaInputError(`${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return { subject: subjectFor(entry, config.topicPrefix), level: entry.compatibility, schema: JSON.stringify(parsed) };
  });
}

/**
 * Checks each schema against what the subject holds: locally at the level from subjects.yaml over
 * the versions that level covers (naming the field), and by the registry's own verdict.
 */
export async function checkSubjects(config: SchemasToolConfig, registry: RegistryClient): Promise<SubjectCheck[]> {
  const results: SubjectCheck[] = [];
  for (const { subject, level, schema } of loadSubjects(config)) {
    const versions = await registry.listVersions(subject);
    const registryLevel = await registry.getSubjectLevel(subject);
    if (versions.length === 0) {
      results.push({ subject, level, schema, status: 'new', latestVersion: undefined, messages: [], registryLevel });
      continue;
    }
    const previous = [];
    for (const v of versions) {
      const got = await registry.getVersion(subject, v);
      if (got !== null) previous.push({ version: got.version, schema: got.schema });
    }
    const latest = previous.at(-1);
    const local = checkCompatibility({ subject, candidate: schema, previous, level });
    const verdict = await registry.testCompatibility(subject, schema);
    const messages = [...local.messages];
    if (!verdict.compatible && local.compatible) {
      // The registry's level or rules may be stricter than subjects.yaml says; show its reasons.
      messages.push(`${subject}: the registry (level ${registryLevel ?? 'unset'}) rejects it${verdict.messages.length > 0 ? `: ${verdict.messages.join('; ')}` : ''}`);
    }
    const unchanged = latest !== undefined && sameSchema(latest.schema, schema);
    results.push({
      subject,
      level,
      schema,
      status: messages.length > 0 ? 'incompatible' : unchanged ? 'unchanged' : 'compatible',
      latestVersion: latest?.version,
      messages,
      registryLevel,
    });
  }
  return results;
}

/** Same JSON once whitespace is gone: the registry may re-serialise what it stores. */
function sameSchema(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

function printChecks(results: readonly SubjectCheck[], io: Output): boolean {
  let ok = true;
  for (const r of results) {
    const against = r.latestVersion === undefined ? 'not registered yet' : `latest version ${r.latestVersion}`;
    const tag = r.status === 'incompatible' ? 'FAIL' : 'ok  ';
    io.out(`${tag} ${r.subject} ${r.level}: ${r.status} (${against})`);
    for (const m of r.messages) io.out(`       ${m}`);
    if (r.registryLevel !== null && r.registryLevel !== r.level) {
      io.out(`       note: the registry has ${r.registryLevel} for this subject; \`register\` sets ${r.level}`);
    }
    if (r.status === 'incompatible') ok = false;
  }
  return ok;
}

export async function runCheck(config: SchemasToolConfig, registry: RegistryClient, io: Output): Promise<number> {
  const results = await checkSubjects(config, registry);
  const ok = printChecks(results, io);
  if (!ok) io.err('schemas check: incompatible changes found; see above.');
  return ok ? EXIT_OK : EXIT_FAILED;
}

/**
 * Gives the registry a default level when it has none, sets every subject's level explicitly, checks every schema, and registers only when all pass,
 * so one bad schema does not leave the registry half-updated.
 */
export async function runRegister(config: SchemasToolConfig, registry: RegistryClient, io: Output): Promise<number> {
  const subjects = loadSubjects(config);
  // A registry without a default (Apicurio: NONE) lets a subject created through its API take any
  // change; give it Confluent's default. A default someone chose (anything but NONE) is kept.
  const global = await registry.getGlobalLevel();
  if (global === null || global === 'NONE') {
    await registry.setGlobalLevel(DEFAULT_COMPATIBILITY);
    io.out(`the registry's default level was ${global ?? 'unset'}; set ${DEFAULT_COMPATIBILITY} for subjects without their own`);
  }
  for (const { subject, level } of subjects) await registry.setSubjectLevel(subject, level);
  const results = await checkSubjects(config, registry);
  if (!printChecks(results, io)) {
    io.err('schemas register: nothing registered; fix the incompatible schemas above.');
    return EXIT_FAILED;
  }
  for (const r of results) {
    const { id } = await registry.register(r.subject, r.schema);
    const latest = await registry.getVersion(r.subject, 'latest');
    io.out(`registered ${r.subject}: id ${id}, version ${latest?.version ?? '?'}`);
  }
  return EXIT_OK;
}

/** Writes `content` to `file`, or with `check` compares and reports staleness (exit 1). */
function writeOrCheck(file: string, content: string, check: boolean, command: string, io: Output): number {
  const shown = relative(REPO_ROOT, file) || file;
  if (check) {
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === content) {
      io.out(`${shown} is up to date`);
      return EXIT_OK;
    }
    io.err(`${shown} is stale: run \`npm run schemas -- ${command}\` and commit the result.`);
    return EXIT_FAILED;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  io.out(`wrote ${shown}`);
  return EXIT_OK;
}

export function renderDocs(config: SchemasToolConfig): string {
  return renderTrackingPlanDocs(loadTrackingPlan(config.schemasDir), loadSubjectMap(config.schemasDir));
}

export function renderTypes(config: SchemasToolConfig): string {
  return generateTypes(loadSchemaFiles(join(config.schemasDir, 'avro')));
}

export function runDocs(config: SchemasToolConfig, check: boolean, io: Output): number {
  return writeOrCheck(config.docsFile, renderDocs(config), check, 'docs', io);
}

export function runCodegen(config: SchemasToolConfig, check: boolean, io: Output): number {
  return writeOrCheck(config.typesFile, renderTypes(config), check, 'codegen', io);
}
