#!/usr/bin/env node
/**
 * The data team's `schemas` command.
 *
 *   node services/schemas-tool/src/cli.ts <check|register|docs|codegen> [--check]
 *        [--registry URL] [--prefix P] [--schemas-dir DIR] [--out FILE]
 *
 * Environment: SCHEMA_REGISTRY_URL, TOPIC_PREFIX (flags win). Exit codes: 0 ok, 1 incompatible
 * or stale, 2 usage, input or registry error.
 */
import { DEFAULT_SCHEMA_REGISTRY_URL, PipelineError, parseCommandLine } from '@cio-pipeline/core';
import { EXIT_ERROR, runCheck, runCodegen, runDocs, runRegister } from './commands.ts';
import type { Output } from './commands.ts';
import { loadConfig } from './config.ts';
import { UsageError } from './errors.ts';
import { RegistryClient } from './registry-client.ts';

export const USAGE = `usage: schemas <command> [options]

commands:
  check      check each schema against the registry's versions at the subject's level (exit 1 if incompatible)
  register   set each subject's compatibility level, check, then register every schema
  docs       render schemas/tracking-plan.yaml as docs/tracking-plan.md (--check: exit 1 if stale)
  codegen    generate packages/core/src/generated/avro-types.ts (--check: exit 1 if stale)

options:
  --registry URL      registry base URL (env SCHEMA_REGISTRY_URL; default ${DEFAULT_SCHEMA_REGISTRY_URL})
  --prefix P          topic prefix for subject names (env TOPIC_PREFIX)
  --schemas-dir DIR   directory with avro/, subjects.yaml, tracking-plan.yaml (default: schemas/)
  --out FILE          docs/codegen output file (default: the checked-in file)
  --check             docs/codegen: compare instead of writing
`;

const COMMANDS = ['check', 'register', 'docs', 'codegen'] as const;
type Command = (typeof COMMANDS)[number];

export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Output,
  deps: { fetch?: typeof fetch } = {},
): Promise<number> {
  try {
    const line = parseCommandLine(argv, {
      check: { type: 'boolean' },
      registry: { type: 'string' },
      prefix: { type: 'string' },
      'schemas-dir': { type: 'string' },
      out: { type: 'string' },
    }, { positionals: true });
    if (line.kind === 'help') {
      io.out(USAGE);
      return 0;
    }
    if (line.kind === 'usage-error') throw new UsageError(line.problem);
    const { values, positionals } = line;
    const command = positionals[0];
    if (positionals.length !== 1 || !(COMMANDS as readonly string[]).includes(command ?? '')) {
      throw new UsageError(positionals.length === 0 ? 'no command given' : `unknown command "${positionals.join(' ')}"`);
    }
    const cmd = command as Command;
    if (values.check && (cmd === 'check' || cmd === 'register')) throw new UsageError(`--check is for docs and codegen, not ${cmd}`);
    const config = loadConfig(env, {
      registry: values.registry,
      prefix: values.prefix,
      schemasDir: values['schemas-dir'],
      out: values.out,
    }, cmd);
    const registry = new RegistryClient({ baseUrl: config.registryUrl, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
    switch (cmd) {
      case 'check': return await runCheck(config, registry, io);
      case 'register': return await runRegister(config, registry, io);
      case 'docs': return runDocs(config, values.check ?? false, io);
      case 'codegen': return runCodegen(config, values.check ?? false, io);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`schemas: ${err.message}\n\n${USAGE}`);
    } else if (err instanceof PipelineError) {
      io.err(`schemas: ${err.message}`);
    } else {
      io.err(`schemas: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    return EXIT_ERROR;
  }
}

if (import.meta.main) {
  const io: Output = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  process.exitCode = await runCli(process.argv.slice(2), process.env, io);
}
