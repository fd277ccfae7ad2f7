import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger, OpsRoute } from '@cio-pipeline/core';
import { resolvePerson, type TraceLookup } from './person-resolver.ts';
import { buildStory, type StoryLine } from './story.ts';

/** Identifiers are short; anything longer is not one (and is not worth a scan). */
const MAX_ID_CHARS = 512;

function identifierOf(query: URLSearchParams, res: ServerResponse, html: boolean): string | null {
  const id = (query.get('id') ?? '').trim();
  if (id === '' || id.length > MAX_ID_CHARS) {
    if (html) sendHtml(res, 400, page(null, [], false, `Give an identifier: ?id=<email, customer id, anonymous id, order id, message id or event id> (at most ${MAX_ID_CHARS} characters).`));
    else res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `id is required (at most ${MAX_ID_CHARS} characters)` }));
    return null;
  }
  return id;
}

/**
 * GET /trace?id=<identifier>: the person's story as JSON lines (one StoryLine each, time order);
 * `x-trace-truncated: true` when a limit cut the resolution short. GET /trace/view?id=: the same as
 * a small HTML page (the emulator's inspector links to it).
 */
export function traceRoutes(index: () => TraceLookup | null, logger: Logger): Record<string, OpsRoute> {
  const story = async (id: string): Promise<{ lines: StoryLine[]; truncated: boolean }> => {
    const idx = index();
    if (!idx) return { lines: [], truncated: false };
    const resolved = await resolvePerson(idx, id);
    return { lines: buildStory(resolved.records), truncated: resolved.truncated };
  };
  const failed = (res: ServerResponse, err: unknown): void => {
    logger.error({ err }, 'trace lookup failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"trace lookup failed"}');
    else res.destroy();
  };
  return {
    '/trace': (_req, res, query) => {
      const id = identifierOf(query, res, false);
      if (id === null) return;
      story(id).then(({ lines, truncated }) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-trace-truncated': String(truncated) });
        res.end(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
      }, (err: unknown) => failed(res, err));
    },
    '/trace/view': (_req, res, query) => {
      const id = identifierOf(query, res, true);
      if (id === null) return;
      story(id).then(({ lines, truncated }) => sendHtml(res, 200, page(id, lines, truncated, null)), (err: unknown) => failed(res, err));
    },
  };
}

/** Everything shown is data someone sent us: escaped for text and attribute context alike. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1d2330}table{border-collapse:collapse;width:100%;font-size:12px}
th,td{text-align:left;border-bottom:1px solid #e6e8ee;padding:4px 6px;vertical-align:top}td.reason{word-break:break-word;max-width:40em}
tr.quarantined,tr.rejected,tr.expired{background:#fde2e2}tr.delivered{background:#e3f6e8}tr[class^="dropped"]{background:#f3f3f3}.muted{color:#6b7280}`;
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;
/** No script at all; the only style is ours (by hash); the form may only come back here. */
const CSP = `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
  res.end(html);
}

function page(id: string | null, lines: readonly StoryLine[], truncated: boolean, problem: string | null): string {
  const rows = lines.map((l) => `<tr class="${escapeHtml(l.outcome)}" data-outcome="${escapeHtml(l.outcome)}"><td>${escapeHtml(l.at)}</td><td>${escapeHtml(l.stage)}</td><td>${escapeHtml(l.outcome)}</td>`
    + `<td>${escapeHtml(l.event_name ?? l.source_event ?? '')}</td><td>${escapeHtml(l.event_id ?? '')}</td><td>${escapeHtml(l.customer_key ?? '')}</td>`
    + `<td>${escapeHtml(l.status ?? '')}</td><td class="reason">${escapeHtml(l.reason ?? '')}</td><td class="muted">${escapeHtml(l.record)}</td></tr>`).join('\n');
  const summary = problem !== null ? `<p>${escapeHtml(problem)}</p>`
    : lines.length === 0 ? `<p>Nothing indexed for <b>${escapeHtml(id)}</b>.</p>`
      : `<p>${lines.length} line(s) for <b>${escapeHtml(id)}</b>${truncated ? ' (truncated: the identifier is shared by too many records or people)' : ''}.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trace${id === null ? '' : ` ${escapeHtml(id)}`}</title><style>${STYLE}</style></head>
<body><h1>Trace</h1>
<form method="get" action="view"><input name="id" value="${escapeHtml(id ?? '')}" size="40" aria-label="identifier"> <button type="submit">Trace</button></form>
${summary}
<table data-testid="trace"><thead><tr><th>at</th><th>stage</th><th>outcome</th><th>event</th><th>event_id</th><th>customer</th><th>status</th><th>reason</th><th>record</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`;
}
