import { ConfigError } from './errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads typed values out of an environment, collecting every problem instead of stopping at the
 * first, so a misconfigured service prints all its mistakes in one start-up.
 * Services call this from their own `config.ts` only; nothing else reads `process.env`.
 */
export class EnvReader {
  private readonly env: Env;
  private readonly problems: string[] = [];

  constructor(env: Env) {
    this.env = env;
  }

  string(name: string, fallback?: string): string {
    const raw = this.env[name];
    if (raw !== undefined && raw !== '') return raw;
    if (fallback !== undefined) return fallback;
    this.problems.push(`${name} is required`);
    return '';
  }

  optionalString(name: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  }

  list(name: string, fallback: readonly string[] = []): string[] {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === '') return [...fallback];
    return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value)) {
      this.problems.push(`${name} must be an integer, got "${raw}"`);
      return fallback;
    }
    if (range.min !== undefined && value < range.min) this.problems.push(`${name} must be >= ${range.min}, got ${value}`);
    if (range.max !== undefined && value > range.max) this.problems.push(`${name} must be <= ${range.max}, got ${value}`);
    return value;
  }

  number(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value)) {
      this.problems.push(`${name} must be a number, got "${raw}"`);
      return fallback;
    }
    if (range.min !== undefined && value < range.min) this.problems.push(`${name} must be >= ${range.min}, got ${value}`);
    if (range.max !== undefined && value > range.max) this.problems.push(`${name} must be <= ${range.max}, got ${value}`);
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return fallback;
  }

  url(name: string, fallback?: string): string {
    const value = this.string(name, fallback);
    if (value === '') return value;
    try {
      new URL(value);
    } catch {
      this.problems.push(`${name} must be a URL, got "${value}"`);
    }
    return value;
  }

  /** Adds a problem found by a cross-field check. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws one ConfigError listing every problem, or freezes and returns the config. */
  done<T extends object>(config: T): Readonly<T> {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
    return deepFreeze(config);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
