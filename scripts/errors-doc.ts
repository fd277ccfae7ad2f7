/**
 * Renders docs/errors.md from the error catalogs (scripts/error-catalogs.ts).
 *   node scripts/errors-doc.ts           write the page
 *   node scripts/errors-doc.ts --check   exit 1 when the checked-in page is stale (make generated-check)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorCatalog } from '@cio-pipeline/core';
import { ERROR_CATALOGS, REASON_CATALOGS } from './error-catalogs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ERRORS_DOC = join(ROOT, 'docs', 'errors.md');

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
const retry = (r: boolean | 'depends'): string => (r === 'depends' ? 'depends' : r ? 'yes' : 'no');

function table(catalog: ErrorCatalog, withStatus: boolean): string[] {
  const head = withStatus ? ['Code', 'HTTP', 'Retryable', 'Meaning', 'What to do'] : ['Code', 'Retryable', 'Meaning', 'What to do'];
  const rows = Object.entries(catalog).map(([code, d]) => {
    const cells = [`\`${code}\``, ...(withStatus ? [d.status === undefined ? '' : String(d.status)] : []), retry(d.retryable), cell(d.meaning), cell(d.action)];
    return `| ${cells.join(' | ')} |`;
  });
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows];
}

export function renderErrorsDoc(): string {
  const lines = [
    '<!-- Generated from each package\'s errors.ts by `node scripts/errors-doc.ts`. Do not edit by hand. -->',
    '',
    '# Error codes',
    '',
    'Every error the pipeline raises on purpose is a `PipelineError` with a stable `code` and a `retryable` fact;',
    'decisions read the class or the code, never the message. Each package keeps a closed list of its codes in its',
    '`errors.ts`; a test fails when a code is thrown without being listed here.',
    '',
  ];
  for (const { dir, name, catalog } of ERROR_CATALOGS) {
    lines.push(`## ${name}`, '', `Listed in \`${dir}/src/errors.ts\`.`, '');
    if (Object.keys(catalog).length === 0) lines.push('No codes of its own; it raises only those of `@cio-pipeline/core`.');
    else lines.push(...table(catalog, Object.values(catalog).some((d) => d.status !== undefined)));
    lines.push('');
  }
  for (const { title, intro, catalog } of REASON_CATALOGS) {
    lines.push(`## ${title}`, '', intro, '', ...table(catalog, false), '');
  }
  return lines.join('\n');
}

function main(): void {
  const check = process.argv.includes('--check');
  const content = renderErrorsDoc();
  if (!check) {
    writeFileSync(ERRORS_DOC, content);
    process.stdout.write('wrote docs/errors.md\n');
    return;
  }
  let current: string | undefined;
  try { current = readFileSync(ERRORS_DOC, 'utf8'); } catch { current = undefined; }
  if (current === content) {
    process.stdout.write('docs/errors.md is up to date\n');
    return;
  }
  process.stderr.write('docs/errors.md is stale: run `node scripts/errors-doc.ts` and commit the result.\n');
  process.exit(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
