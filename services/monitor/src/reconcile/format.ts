/** The report as people read it (a table, then the ids behind each number) or as JSON lines. */
import type { BackfillRun } from './backfill-runner.ts';
import { REPORT_STATES, type DayReport } from './report.ts';

export function jsonLines(report: readonly DayReport[], backfill: BackfillRun | null): string {
  const handed = new Set(backfill?.handed ?? []);
  const written = new Set(backfill?.written ?? []);
  const of = (d: DayReport, set: Set<string>) => d.missing_ids.filter((id) => set.has(id));
  return report
    .map((d) => JSON.stringify(backfill === null ? d : { ...d, backfill_handed: of(d, handed), backfill_written: of(d, written) }))
    .map((line) => `${line}\n`)
    .join('');
}

export function table(report: readonly DayReport[], backfill: BackfillRun | null): string {
  const header = ['day', ...REPORT_STATES];
  const total: string[] = ['total', ...REPORT_STATES.map((s) => String(report.reduce((n, d) => n + d[s], 0)))];
  const rows = [header, ...report.map((d) => [d.day, ...REPORT_STATES.map((s) => String(d[s]))]), total];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [line(header), ...report.map((d, i) => [line(rows[i + 1]!), ...details(d)]).flat(), line(total)];
  if (report.length === 0) out.push('(no orders in the export for these days)');
  if (backfill !== null) {
    const s = backfill.summary;
    out.push(s === null
      ? 'backfill: nothing missing, nothing sent'
      : `backfill: ${backfill.handed.length} order(s) handed to backfill: ${backfill.written.length} written to raw.shopify, ${s.alreadyDelivered} already known to the normalizer, ${s.invalid} invalid${invalidReasons(s.invalidReasons)}`);
    const unwritten = backfill.handed.filter((id) => !backfill.written.includes(id));
    if (unwritten.length > 0) out.push(`  not written, still missing: ${unwritten.join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}

function details(d: DayReport): string[] {
  const out: string[] = [];
  const list = (label: string, ids: readonly string[]) => {
    if (ids.length > 0) out.push(`  ${label}: ${ids.join(', ')}`);
  };
  list('missing', d.missing_ids.map((id) => (d.missing_notes[id] ? `${id} (dropped: ${d.missing_notes[id].join(', ')})` : id)));
  list('quarantined', d.quarantined_orders.map((q) => `${q.order_id} (${q.reasons.join(', ')})`));
  list('duplicates', d.duplicate_ids);
  list('rejected', d.rejected_orders.map((r) => `${r.order_id} (${r.status ?? '-'}${r.answer ? ` ${r.answer}` : ''})`));
  list('pending', d.pending_ids);
  list('backfilled', d.backfilled_ids);
  return out;
}

function invalidReasons(reasons: Record<string, number>): string {
  const entries = Object.entries(reasons);
  return entries.length === 0 ? '' : ` (${entries.map(([code, n]) => `${code} ${n}`).join(', ')})`;
}
