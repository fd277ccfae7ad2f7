/**
 * The operator commands' flags, one way for all: Node's strict `parseArgs` plus `-h`/`--help`, and
 * one contract (test/support/command-usage.ts): `--help` prints the usage on stdout and exits 0; a
 * usage error prints `<command>: <problem> (--help for usage)` on stderr and exits 2, before
 * anything connects.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { ConfigError, configErrorLine } from './errors.ts';

export const EXIT_USAGE = 2;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

type WithHelp<O extends ParseArgsOptionsConfig> = O & typeof HELP_OPTION;
type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: WithHelp<O>; strict: true; allowPositionals: true }>>;

export type CommandLine<O extends ParseArgsOptionsConfig> =
  | { kind: 'help' }
  | { kind: 'usage-error'; problem: string }
  | { kind: 'parsed'; values: Parsed<O>['values']; positionals: string[] };

/** Parses without side effects: the answer says whether help was asked or what is wrong. */
export function parseCommandLine<O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O, opts: { positionals?: boolean } = {}): CommandLine<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, ...HELP_OPTION } as WithHelp<O>, strict: true, allowPositionals: true });
  } catch (err) {
    return { kind: 'usage-error', problem: (err as Error).message };
  }
  if ((parsed.values as { help?: boolean }).help === true) return { kind: 'help' };
  if (opts.positionals !== true && parsed.positionals.length > 0) {
    return { kind: 'usage-error', problem: `unexpected argument "${parsed.positionals[0]}"` };
  }
  return { kind: 'parsed', values: parsed.values, positionals: parsed.positionals };
}

export interface CommandSpec {
  /** The prefix of a usage error, e.g. `replay`. */
  name: string;
  /** Printed on `--help`; starts with `usage: `. */
  usage: string;
}

/** Prints `<name>: <problem> (--help for usage)` on stderr and exits 2. */
export function exitWithUsageError(name: string, problem: string): never {
  process.stderr.write(`${name}: ${problem} (--help for usage)\n`);
  process.exit(EXIT_USAGE);
}

/** For a command's entry file: answers `--help` (exit 0) and usage errors (exit 2), else returns the flags. */
export function commandLineOrExit<O extends ParseArgsOptionsConfig>(
  spec: CommandSpec,
  argv: readonly string[],
  options: O,
  opts: { positionals?: boolean } = {},
): { values: Parsed<O>['values']; positionals: string[] } {
  const line = parseCommandLine(argv, options, opts);
  if (line.kind === 'help') {
    process.stdout.write(`${spec.usage}\n`);
    process.exit(0);
  }
  if (line.kind === 'usage-error') exitWithUsageError(spec.name, line.problem);
  return { values: line.values, positionals: line.positionals };
}

/** For a command's entry file: the configuration, or every problem on one line on stderr and exit 2. */
export function configOrExit<C>(name: string, load: () => C): C {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(configErrorLine(name, err));
    process.exit(EXIT_USAGE);
  }
}
