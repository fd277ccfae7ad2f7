import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORE_ERRORS } from '@cio-pipeline/core';
import { ERROR_CATALOGS, REASON_CATALOGS } from '../scripts/error-catalogs.ts';
import { ERRORS_DOC, renderErrorsDoc } from '../scripts/errors-doc.ts';
import { QUARANTINE_REASONS } from '../services/normalizer/src/quarantine-reasons.ts';
import { WARNING } from '../services/normalizer/src/stages/validate.ts';

const ROOT = join(import.meta.dirname, '..');

/**
 * Upper-case literals in sources that are not our error codes: Kafka, LevelDB and undici error
 * codes we read, and the registry's compatibility levels. Environment variable names are only read in the
 * config modules, which the scan skips.
 */
const FOREIGN_CONSTANTS = new Set([
  'TOPIC_ALREADY_EXISTS', 'LEVEL_LOCKED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'BACKWARD_TRANSITIVE', 'FORWARD_TRANSITIVE', 'FULL_TRANSITIVE',
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.startsWith('generated') && !/(^|\/)[\w-]*config\.ts$/.test(f))
    .map((f) => join(dir, f));
}

function literals(file: string, pattern: RegExp): string[] {
  return [...readFileSync(file, 'utf8').matchAll(pattern)].map((m) => m[1] as string);
}

describe('error codes', () => {
  it('documents every code of every list', () => {
    for (const { catalog } of [...ERROR_CATALOGS, ...REASON_CATALOGS]) {
      for (const [code, doc] of Object.entries(catalog)) {
        expect(doc.meaning.trim(), code).not.toBe('');
        expect(doc.action.trim(), code).not.toBe('');
      }
    }
    const page = readFileSync(ERRORS_DOC, 'utf8');
    expect(page, 'docs/errors.md is stale: run node scripts/errors-doc.ts').toBe(renderErrorsDoc());
    for (const { catalog } of [...ERROR_CATALOGS, ...REASON_CATALOGS]) {
      for (const code of Object.keys(catalog)) expect(page).toContain(`| \`${code}\` |`);
    }
  });

  it('lists each code in exactly one package', () => {
    const seen = new Map<string, string>();
    for (const { name, catalog } of ERROR_CATALOGS) {
      for (const code of Object.keys(catalog)) {
        expect(seen.get(code), `${code} is listed by ${seen.get(code)} and ${name}`).toBeUndefined();
        seen.set(code, name);
      }
    }
  });

  it.each(ERROR_CATALOGS.map((c) => [c.name, c] as const))('%s throws only codes its list (or core\'s) holds', (_name, { dir, catalog }) => {
    const allowed = new Set([...Object.keys(catalog), ...Object.keys(CORE_ERRORS)]);
    const stray: string[] = [];
    for (const file of sourceFiles(join(ROOT, dir, 'src'))) {
      for (const code of literals(file, /'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)) {
        if (!allowed.has(code) && !FOREIGN_CONSTANTS.has(code)) stray.push(`${relative(ROOT, file)}: ${code}`);
      }
    }
    expect(stray).toEqual([]);
  });

  it('quarantines only with listed reasons', () => {
    const allowed = new Set([...Object.keys(QUARANTINE_REASONS), ...Object.values(WARNING)]);
    const stray: string[] = [];
    for (const file of sourceFiles(join(ROOT, 'services/normalizer/src'))) {
      for (const code of literals(file, /\bcode: '([a-z][a-z0-9_]*)'/g)) {
        if (!allowed.has(code)) stray.push(`${relative(ROOT, file)}: ${code}`);
      }
    }
    expect(stray).toEqual([]);
  });
});
