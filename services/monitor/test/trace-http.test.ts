import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, createOpsServer, type OpsServer } from '@cio-pipeline/core';
import type { IndexedRecord } from '../src/trace/indexed-record.ts';
import { identifiersOf, indexForm, recordId } from '../src/trace/indexed-record.ts';
import type { TraceLookup } from '../src/trace/person-resolver.ts';
import { formatTable, type StoryLine } from '../src/trace/story.ts';
import { escapeHtml, traceRoutes } from '../src/trace/trace-http.ts';
import { audit, journey } from './trace-fixtures.ts';

/** The index as a map: what resolution sees, without LevelDB. */
function memoryLookup(records: IndexedRecord[]): TraceLookup {
  const byId = new Map(records.map((r) => [recordId(r), r]));
  const byIdentifier = new Map<string, string[]>();
  for (const r of records) {
    for (const ref of identifiersOf(r)) {
      const k = indexForm(ref.value, ref.type);
      byIdentifier.set(k, [...new Set([...(byIdentifier.get(k) ?? []), recordId(r)])]);
    }
  }
  return {
    recordIdsOf: async (v) => byIdentifier.get(v) ?? [],
    records: async (ids) => ids.map((id) => byId.get(id)!).filter(Boolean),
  };
}

const servers: OpsServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(records: IndexedRecord[]): Promise<string> {
  const ops = createOpsServer({ metrics: new Registry(), ready: () => true, routes: traceRoutes(() => memoryLookup(records), createLogger('test', 'silent')) });
  servers.push(ops);
  return `http://127.0.0.1:${await ops.listen(0)}`;
}

const XSS = '<script>alert(1)</script>"\'`&';

describe('GET /trace and /trace/view', () => {
  it('answers the person\'s story as JSON lines, and 400 without an id', async () => {
    const j = journey('fay');
    const records = [...j.audits.map((a, i): IndexedRecord => ({ kind: 'audit', origin: { partition: 0, offset: String(i) }, audit: a }))];
    const url = await serve(records);
    const res = await fetch(`${url}/trace?id=${encodeURIComponent(j.email)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('x-trace-truncated')).toBe('false');
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as StoryLine);
    expect(lines.filter((l) => l.stage === 'raw')).toHaveLength(6); // 7 audit records, one of them a release
    expect((await fetch(`${url}/trace`)).status).toBe(400);
    expect((await fetch(`${url}/trace?id=${'x'.repeat(600)}`)).status).toBe(400);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('renders the view with every sent string escaped, no script allowed', async () => {
    const evil = audit(1, { source_event: XSS, reasons: [XSS], outcome: 'quarantined', ids: { email: `${XSS}@x.io` } });
    const url = await serve([{ kind: 'audit', origin: { partition: 0, offset: '1' }, audit: evil }]);
    const res = await fetch(`${url}/trace/view?id=${encodeURIComponent(`${XSS}@x.io`)}`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    const html = await res.text();
    expect(html).not.toContain('<script>');
    expect(html).toContain(escapeHtml(XSS));
    expect(html).toContain('data-outcome="quarantined"');
    const empty = await (await fetch(`${url}/trace/view?id=nobody`)).text();
    expect(empty).toContain('Nothing indexed for <b>nobody</b>');
  });
});

describe('formatTable', () => {
  it('lines up columns and keeps control characters off the terminal', () => {
    const line: StoryLine = { at: '2026-11-20T10:00:01.000Z', stage: 'sink', outcome: 'rejected', reason: 'bad\nname\u001b[31m', event_id: 'E1', event_name: 'added_to_cart', customer_key: 'c', source: null, source_event: null, status: 400, record: 't/0/1' };
    const text = formatTable([line, { ...line, stage: 'raw', outcome: 'received', reason: null, status: null, event_id: null, event_name: null, source_event: 'Added To Cart' }]);
    const rows = text.split('\n');
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatch(/^at\s+stage\s+outcome\s+event\s+event_id\s+reason$/);
    expect(rows[2]).toContain('400 bad name [31m');
    expect(text).not.toContain('\u001b');
    expect(rows[3]).toContain('Added To Cart');
    expect(rows[2]!.indexOf('rejected')).toBe(rows[3]!.indexOf('received'));
  });
});
