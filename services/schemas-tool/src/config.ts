/** The schemas command's settings: environment first, command-line flags override. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader, readRegistrySettings, readTopicSettings } from '@cio-pipeline/core';

/** The repository root, found from this file so the command works from any directory. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface SchemasToolConfig {
  registryUrl: string;
  topicPrefix: string;
  /** Holds `avro/*.avsc`, `subjects.yaml` and `tracking-plan.yaml`. */
  schemasDir: string;
  /** Where `docs` writes the Markdown tracking plan. */
  docsFile: string;
  /** Where `codegen` writes the TypeScript types. */
  typesFile: string;
}

export interface ConfigOverrides {
  registry?: string | undefined;
  prefix?: string | undefined;
  schemasDir?: string | undefined;
  out?: string | undefined;
}

export function loadConfig(env: Readonly<Record<string, string | undefined>>, flags: ConfigOverrides = {}, command = ''): Readonly<SchemasToolConfig> {
  const reader = new EnvReader({
    ...env,
    ...(flags.registry === undefined ? {} : { SCHEMA_REGISTRY_URL: flags.registry }),
  });
  const registryUrl = readRegistrySettings(reader).url;
  const topicPrefix = flags.prefix ?? readTopicSettings(reader).topicPrefix;
  const schemasDir = resolve(flags.schemasDir ?? join(REPO_ROOT, 'schemas'));
  return reader.done({
    registryUrl,
    topicPrefix,
    schemasDir,
    docsFile: command === 'docs' && flags.out !== undefined ? resolve(flags.out) : join(REPO_ROOT, 'docs', 'tracking-plan.md'),
    typesFile: command === 'codegen' && flags.out !== undefined ? resolve(flags.out) : join(REPO_ROOT, 'packages', 'core', 'src', 'generated', 'avro-types.ts'),
  });
}
