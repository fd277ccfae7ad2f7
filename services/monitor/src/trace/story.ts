import type { IndexedRecord } from './indexed-record.ts';

export type Stage = 'raw' | 'normalizer' | 'sink';

/** One line of a person's story: what `trace --json` prints and GET /trace answers, one per line. */
export interface StoryLine {
  /** ISO 8601, UTC. */
  at: string;
  stage: Stage;
  /**
   * raw: `received`. normalizer: `canonical`, `quarantined`, `dropped_<reason>` (dropped_duplicate,
   * dropped_bot, ...), `held`, `released`, `expired`. sink: `delivered`, `rejected`.
   */
  outcome: string;
  /** Why: the quarantine reasons or drop reason, until when it is held, or Customer.io's answer. */
  reason: string | null;
  event_id: string | null;
  event_name: string | null;
  customer_key: string | null;
  source: string | null;
  /** The raw event or webhook topic as sent (raw and normalizer lines). */
  source_event: string | null;
  /** HTTP status of Customer.io's final answer (sink lines). */
  status: number | null;
  /** The record the line comes from: raw topic/partition/offset, or the canonical one for sink lines. */
  record: string;
}

/** The same key order on every line, so `--json` output reads (and diffs) the same. */
function line(l: StoryLine): StoryLine {
  return {
    at: l.at, stage: l.stage, outcome: l.outcome, reason: l.reason, event_id: l.event_id, event_name: l.event_name,
    customer_key: l.customer_key, source: l.source, source_event: l.source_event, status: l.status, record: l.record,
  };
}

const STAGE_ORDER: Record<Stage, number> = { raw: 0, normalizer: 1, sink: 2 };
const iso = (ms: number): string => new Date(ms).toISOString();

/** The normalizer's outcome as a story outcome: a drop names its reason (`dropped_duplicate`). */
function normalizerOutcome(outcome: string, reasons: readonly string[]): string {
  if (outcome !== 'dropped') return outcome;
  return reasons.length > 0 ? `dropped_${reasons[0]!.replace(/[^a-z0-9_]+/gi, '_').toLowerCase()}` : 'dropped';
}

function auditLines(r: Extract<IndexedRecord, { kind: 'audit' }>): StoryLine[] {
  const a = r.audit;
  const record = `${a.source_topic}/${a.source_partition}/${a.source_offset}`;
  const base = { event_name: a.event_name, customer_key: a.customer_key, source: a.source, source_event: a.source_event, status: null, record };
  const lines: StoryLine[] = [];
  // A release or expiry is a second verdict on a raw record already told: no second "received".
  if (a.outcome !== 'released' && a.outcome !== 'expired') {
    lines.push({ ...base, at: iso(a.audited_at), stage: 'raw', outcome: 'received', reason: null, event_id: null, event_name: null });
  }
  const outcome = normalizerOutcome(a.outcome, a.reasons);
  let reason: string | null = a.reasons.length > 0 ? a.reasons.join(', ') : null;
  if (a.outcome === 'held' && a.held_until !== null) reason = `until ${iso(a.held_until)}${reason ? `; ${reason}` : ''}`;
  const ids = a.event_ids.length > 0 ? a.event_ids : [null];
  for (const event_id of ids) lines.push({ ...base, at: iso(a.audited_at), stage: 'normalizer', outcome, reason, event_id });
  return lines;
}

function receiptLine(r: Extract<IndexedRecord, { kind: 'receipt' }>): StoryLine {
  const c = r.receipt;
  return {
    at: iso(c.answered_at), stage: 'sink', outcome: c.outcome, reason: c.answer, event_id: c.event_id, event_name: c.event_name,
    customer_key: c.customer_key, source: null, source_event: null, status: c.status, record: `${c.source_topic}/${c.source_partition}/${c.source_offset}`,
  };
}

/** Every record of a person as lines in time order (raw before its verdict before Customer.io's answer). */
export function buildStory(records: readonly IndexedRecord[]): StoryLine[] {
  const lines = records.flatMap((r) => (r.kind === 'audit' ? auditLines(r) : [receiptLine(r)])).map(line);
  return lines.sort((x, y) => x.at.localeCompare(y.at) || STAGE_ORDER[x.stage] - STAGE_ORDER[y.stage] || x.record.localeCompare(y.record) || (x.event_id ?? '').localeCompare(y.event_id ?? ''));
}

/** Control characters (an attacker's newline or escape sequence) never reach the terminal. */
function clean(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? ' ' : ch;
  }
  return out;
}

const COLUMNS = ['at', 'stage', 'outcome', 'event', 'event_id', 'reason'] as const;

/** A readable table of the story, one line per line, widths fitted, long reasons cut. */
export function formatTable(lines: readonly StoryLine[], maxReason = 100): string {
  const rows = lines.map((l) => [
    l.at, l.stage, l.outcome, l.event_name ?? l.source_event ?? '', l.event_id ?? '',
    (() => {
      const r = clean([l.status !== null ? String(l.status) : null, l.reason].filter((x) => x !== null).join(' '));
      return r.length > maxReason ? `${r.slice(0, maxReason - 1)}…` : r;
    })(),
  ].map(clean));
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(COLUMNS), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}
