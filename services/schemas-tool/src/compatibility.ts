/**
 * A local, readable account of Avro schema compatibility. The registry gives a verdict, but its
 * message rarely names the field; this names the field path and the version it breaks.
 *
 * Resolution follows the Avro spec as avsc implements it (our services decode with avsc): the walk
 * explains each problem, and avsc's `createResolver` is the ground truth it is checked against.
 */
import avro from 'avsc';
import type { Schema, Type } from 'avsc';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

/**
 * The level of a subject nobody chose one for: Confluent Schema Registry's default. `schemas
 * register` gives it to a registry that has none (Apicurio has no global rule: NONE), so a subject
 * the data team creates through the registry's API cannot take a change that breaks its readers.
 */
export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';

export function isCompatibilityLevel(value: unknown): value is CompatibilityLevel {
  return typeof value === 'string' && (COMPATIBILITY_LEVELS as readonly string[]).includes(value);
}

/** One problem found when data written with `writer` is read with `reader`. */
export interface ResolutionProblem {
  /** Dotted field path (`commerce.items[].price`); '' for the top-level schema. */
  path: string;
  kind: 'missing_default' | 'type_mismatch' | 'enum_symbol' | 'name_mismatch' | 'fixed_size' | 'unexplained';
  /** What the writer has at `path` (a type, or an enum symbol). */
  writer: string;
  /** What the reader has at `path`. */
  reader: string;
}

/**
 * Direction of a check. `backward`: the candidate reads data written with a previous version.
 * `forward`: readers built on a previous version read data written with the candidate.
 */
export type Direction = 'backward' | 'forward';

export interface Incompatibility {
  path: string;
  /** Human description in old -> new terms, e.g. `field "email" removed without a default`. */
  description: string;
  direction: Direction;
  /** The previous version involved. */
  version: number;
}

export interface PreviousVersion {
  version: number;
  schema: Schema | string;
}

export interface CompatibilityReport {
  compatible: boolean;
  level: CompatibilityLevel;
  /** The versions the candidate was checked against. */
  checkedVersions: number[];
  problems: Incompatibility[];
  /** One readable line per distinct problem, naming the field and the versions it breaks. */
  messages: string[];
}

/**
 * Checks `candidate` against the previous versions of a subject (oldest first) at `level`.
 * Non-transitive levels compare with the latest version only; `_TRANSITIVE` with all of them.
 */
export function checkCompatibility(opts: {
  subject?: string;
  candidate: Schema | string;
  previous: readonly PreviousVersion[];
  level: CompatibilityLevel;
}): CompatibilityReport {
  const { level } = opts;
  const candidate = toType(opts.candidate);
  const sorted = [...opts.previous].sort((a, b) => a.version - b.version);
  const against = level === 'NONE' ? [] : level.endsWith('_TRANSITIVE') ? sorted : sorted.slice(-1);
  const directions: Direction[] = level.startsWith('BACKWARD')
    ? ['backward']
    : level.startsWith('FORWARD')
      ? ['forward']
      : level.startsWith('FULL')
        ? ['backward', 'forward']
        : [];
  const problems: Incompatibility[] = [];
  for (const prev of against) {
    const previous = toType(prev.schema);
    for (const direction of directions) {
      const found = direction === 'backward'
        ? findResolutionProblems(previous, candidate)
        : findResolutionProblems(candidate, previous);
      for (const p of found) {
        problems.push({ path: p.path, description: describe(p, direction), direction, version: prev.version });
      }
    }
  }
  return {
    compatible: problems.length === 0,
    level,
    checkedVersions: against.map((v) => v.version),
    problems,
    messages: formatMessages(opts.subject, problems),
  };
}

/** Every problem reading `writer` data with `reader`; empty when avsc can resolve them. */
export function findResolutionProblems(writer: Schema | string | Type, reader: Schema | string | Type): ResolutionProblem[] {
  const w = isType(writer) ? writer : toType(writer);
  const r = isType(reader) ? reader : toType(reader);
  const problems: ResolutionProblem[] = [];
  walk(w, r, '', problems, new Set());
  let avscError: string | undefined;
  try {
    r.createResolver(w);
  } catch (err) {
    avscError = err instanceof Error ? err.message : String(err);
  }
  // The walk explains; avsc decides. If avsc refuses something the walk did not explain, say so
  // rather than pass a schema our own consumers could not read.
  if (avscError !== undefined && problems.length === 0) {
    problems.push({ path: '', kind: 'unexplained', writer: display(w), reader: avscError });
  }
  return problems;
}

function toType(schema: Schema | string): Type {
  const parsed: Schema = typeof schema === 'string' ? (JSON.parse(schema) as Schema) : schema;
  return avro.Type.forSchema(parsed);
}

function isType(x: unknown): x is Type {
  return x instanceof avro.Type;
}

// avsc's runtime type objects carry more than its typings expose; this is the part we read.
interface FieldLike { name: string; aliases: string[]; type: Type; defaultValue(): unknown }
interface TypeLike {
  typeName: string;
  name?: string;
  aliases?: string[];
  fields?: FieldLike[];
  symbols?: string[];
  default?: unknown;
  types?: Type[];
  itemsType?: Type;
  valuesType?: Type;
  size?: number;
}
const t = (x: Type): TypeLike => x as unknown as TypeLike;

function kindOf(x: Type): string {
  const name = t(x).typeName;
  if (name.startsWith('union')) return 'union';
  if (name.startsWith('logical:')) return t(x).typeName.slice('logical:'.length);
  return name;
}

const PROMOTIONS: Record<string, readonly string[]> = {
  int: ['long', 'float', 'double'],
  long: ['float', 'double'],
  float: ['double'],
  string: ['bytes'],
  bytes: ['string'],
};

const NAMED = new Set(['record', 'enum', 'fixed', 'error']);

/** Whether a reader named type accepts a writer named type by full name or alias (as avsc does). */
function namesMatch(w: Type, r: Type): boolean {
  const wn = t(w).name;
  const rn = t(r).name;
  return wn !== undefined && (wn === rn || (t(r).aliases ?? []).includes(wn));
}

/** Whether `w` could be read as `r` at the top (ignoring nested problems): used to pick union branches. */
function shallowMatch(w: Type, r: Type): boolean {
  const wk = kindOf(w);
  const rk = kindOf(r);
  if (NAMED.has(wk) || NAMED.has(rk)) return wk === rk && namesMatch(w, r);
  if (wk === rk) return true;
  return (PROMOTIONS[wk] ?? []).includes(rk);
}

/** The reader branch a writer (non-union) type resolves to, as the Avro spec picks it. */
function pickBranch(w: Type, branches: readonly Type[]): Type | undefined {
  const wk = kindOf(w);
  return branches.find((b) => kindOf(b) === wk && (!NAMED.has(wk) || namesMatch(w, b)))
    ?? branches.find((b) => shallowMatch(w, b));
}

function walk(w: Type, r: Type, path: string, out: ResolutionProblem[], seen: Set<string>): void {
  const wk = kindOf(w);
  const rk = kindOf(r);

  if (wk === 'union') {
    // Every writer branch must be readable.
    const before = out.length;
    for (const branch of t(w).types ?? []) {
      if (rk === 'union') {
        const target = pickBranch(branch, t(r).types ?? []);
        if (target === undefined) {
          out.splice(before);
          out.push({ path, kind: 'type_mismatch', writer: display(w), reader: display(r) });
          return;
        }
        walk(branch, target, path, out, seen);
      } else if (!shallowMatch(branch, r)) {
        out.splice(before);
        out.push({ path, kind: 'type_mismatch', writer: display(w), reader: display(r) });
        return;
      } else {
        walk(branch, r, path, out, seen);
      }
    }
    return;
  }
  if (rk === 'union') {
    const target = pickBranch(w, t(r).types ?? []);
    if (target === undefined) {
      out.push({ path, kind: 'type_mismatch', writer: display(w), reader: display(r) });
      return;
    }
    walk(w, target, path, out, seen);
    return;
  }

  if (NAMED.has(wk) || NAMED.has(rk)) {
    if (wk !== rk) {
      out.push({ path, kind: 'type_mismatch', writer: display(w), reader: display(r) });
      return;
    }
    if (!namesMatch(w, r)) {
      out.push({ path, kind: 'name_mismatch', writer: t(w).name ?? wk, reader: t(r).name ?? rk });
      return;
    }
  }

  switch (rk) {
    case 'record':
    case 'error': {
      // Recursive schemas: a pair already being compared adds nothing new.
      const pairKey = `${t(w).name}|${t(r).name}`;
      if (seen.has(pairKey)) return;
      seen.add(pairKey);
      const writerFields = t(w).fields ?? [];
      for (const rf of t(r).fields ?? []) {
        const wf = writerFields.find((f) => f.name === rf.name)
          ?? writerFields.find((f) => rf.aliases.includes(f.name));
        const fieldPath = path === '' ? rf.name : `${path}.${rf.name}`;
        if (wf === undefined) {
          if (rf.defaultValue() === undefined) {
            out.push({ path: fieldPath, kind: 'missing_default', writer: '(absent)', reader: display(rf.type) });
          }
          continue;
        }
        walk(wf.type, rf.type, fieldPath, out, seen);
      }
      seen.delete(pairKey);
      return;
    }
    case 'enum': {
      const readerSymbols = t(r).symbols ?? [];
      if (t(r).default !== undefined) return;
      for (const s of t(w).symbols ?? []) {
        if (!readerSymbols.includes(s)) out.push({ path, kind: 'enum_symbol', writer: s, reader: display(r) });
      }
      return;
    }
    case 'fixed':
      if (t(w).size !== t(r).size) {
        out.push({ path, kind: 'fixed_size', writer: String(t(w).size), reader: String(t(r).size) });
      }
      return;
    case 'array':
      if (wk !== 'array') break;
      walk(t(w).itemsType as Type, t(r).itemsType as Type, `${path}[]`, out, seen);
      return;
    case 'map':
      if (wk !== 'map') break;
      walk(t(w).valuesType as Type, t(r).valuesType as Type, `${path}{}`, out, seen);
      return;
    default:
      if (wk === rk || (PROMOTIONS[wk] ?? []).includes(rk)) return;
  }
  out.push({ path, kind: 'type_mismatch', writer: display(w), reader: display(r) });
}

/** A short, readable type: `null | string`, `array<LineItem>`, `CommerceProperties`. */
export function display(x: Type): string {
  const k = kindOf(x);
  switch (k) {
    case 'union': return (t(x).types ?? []).map(display).join(' | ');
    case 'array': return `array<${display(t(x).itemsType as Type)}>`;
    case 'map': return `map<${display(t(x).valuesType as Type)}>`;
    case 'record': case 'error': case 'fixed': return shortName(t(x).name ?? k);
    case 'enum': return `enum ${shortName(t(x).name ?? k)}`;
    default: return k;
  }
}

function shortName(fullName: string): string {
  return fullName.split('.').pop() ?? fullName;
}

/** Words in old -> new terms: backward reads old data with the new schema, forward the reverse. */
function describe(p: ResolutionProblem, direction: Direction): string {
  const [oldSide, newSide] = direction === 'backward' ? [p.writer, p.reader] : [p.reader, p.writer];
  const subject = p.path === '' ? 'the schema' : `field "${p.path}"`;
  switch (p.kind) {
    case 'missing_default':
      return direction === 'backward'
        ? `${subject} added without a default`
        : `${subject} removed without a default`;
    case 'type_mismatch':
      return `${subject} changed type ${oldSide} -> ${newSide}`;
    case 'enum_symbol':
      return direction === 'backward'
        ? `${subject}: enum symbol "${p.writer}" removed (and the enum has no default)`
        : `${subject}: enum symbol "${p.writer}" added but the old enum has no default`;
    case 'name_mismatch':
      return `${subject === 'the schema' ? 'the schema\'s record' : subject} renamed ${oldSide} -> ${newSide} without an alias`;
    case 'fixed_size':
      return `${subject} changed fixed size ${oldSide} -> ${newSide}`;
    case 'unexplained':
      return `${subject} cannot be resolved by avsc: ${p.reader}`;
  }
}

function versions(vs: readonly number[]): string {
  const unique = [...new Set(vs)].sort((a, b) => a - b);
  return unique.length === 1 ? `version ${unique[0]}` : `versions ${unique.join(', ')}`;
}

/** One line per distinct description, listing which readers or which old data it breaks. */
function formatMessages(subject: string | undefined, problems: readonly Incompatibility[]): string[] {
  const grouped = new Map<string, { forward: number[]; backward: number[] }>();
  for (const p of problems) {
    const g = grouped.get(p.description) ?? { forward: [], backward: [] };
    g[p.direction].push(p.version);
    grouped.set(p.description, g);
  }
  const prefix = subject === undefined ? '' : `${subject}: `;
  return [...grouped].map(([description, g]) => {
    const effects: string[] = [];
    if (g.forward.length > 0) effects.push(`breaks readers of ${versions(g.forward)}`);
    if (g.backward.length > 0) effects.push(`cannot read data written with ${versions(g.backward)}`);
    return `${prefix}${description} (${effects.join('; ')})`;
  });
}
