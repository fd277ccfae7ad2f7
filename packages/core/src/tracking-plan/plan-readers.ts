import { foldName } from './names.ts';
import { PROPERTY_TYPES, type PropertyType } from './property-types.ts';
import type { AnonymousPolicy, Tier } from './tracking-plan.ts';

/**
 * Readers of one YAML value of the tracking plan. Each returns a usable default and pushes a problem
 * naming its path, so one pass reports every mistake in the file.
 */

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function unknownKeys(obj: Obj, allowed: readonly string[], path: string, problems: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) problems.push(`${path}${path ? '.' : ''}${key} is not a known setting (expected one of ${allowed.join(', ')})`);
  }
}

export function stringList(value: unknown, path: string, problems: string[]): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.trim() !== '')) {
    problems.push(`${path} must be a list of non-empty strings`);
    return [];
  }
  return value as string[];
}

export function tierOf(value: unknown, path: string, problems: string[]): Tier {
  if (value === 1 || value === 2) return value;
  problems.push(`${path} must be 1 or 2, got ${JSON.stringify(value) ?? 'nothing'}`);
  return 2;
}

export function anonymousOf(value: unknown, path: string, problems: string[]): AnonymousPolicy {
  if (value === 'hold' || value === 'forward') return value;
  problems.push(`${path} must be hold or forward, got ${JSON.stringify(value) ?? 'nothing'}`);
  return 'hold';
}

export function typeMap(value: unknown, path: string, problems: string[]): Map<string, PropertyType> {
  const out = new Map<string, PropertyType>();
  if (value === undefined || value === null) return out;
  if (!isObj(value)) {
    problems.push(`${path} must be a map of property name to type`);
    return out;
  }
  for (const [name, type] of Object.entries(value)) {
    if (foldName(name) !== name) problems.push(`${path}.${name} must be snake_case (it folds to ${foldName(name)})`);
    if (typeof type !== 'string' || !(PROPERTY_TYPES as readonly string[]).includes(type)) {
      problems.push(`${path}.${name} must be one of ${PROPERTY_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
      continue;
    }
    out.set(name, type as PropertyType);
  }
  return out;
}
