import { createHash } from 'node:crypto';

/*
 * The inspector page: one self-contained HTML document (no external assets) that reads the JSON
 * inspection API. All user data goes into the DOM through textContent/setAttribute, never HTML
 * strings, and the CSP only allows this exact script and style (by hash), so sent data cannot run.
 * Stable hooks for browser tests: data-person-id, data-person-email, data-cio-id, data-event-name,
 * data-request-status, data-testid, and body[data-loaded="true"] after the first render.
 * With EMULATOR_TRACE_URL (body[data-trace-url]), each person and anonymous id links to the
 * monitor's trace view; the link is built with URL/searchParams, so an id stays a query value.
 */

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 16px; margin: 0; }
main { padding: 16px; display: grid; gap: 16px; }
section { background: #fff; border: 1px solid #d9dce3; border-radius: 6px; padding: 12px 16px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.person { border-top: 1px solid #e6e8ee; padding: 10px 0; }
.person:first-of-type { border-top: 0; }
.ids { font-family: ui-monospace, monospace; display: flex; gap: 12px; flex-wrap: wrap; }
.ids span { background: #eef1f6; padding: 1px 6px; border-radius: 4px; }
.attrs { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; font-family: ui-monospace, monospace; font-size: 12px; }
.attrs dt { color: #5a6172; }
.attrs dd { margin: 0; white-space: pre-wrap; word-break: break-all; }
ol.timeline { margin: 6px 0 0; padding-left: 22px; }
ol.timeline li { margin: 2px 0; }
.ev-name { font-weight: 600; }
.muted { color: #6b7280; font-size: 12px; }
pre { margin: 2px 0; font-size: 12px; white-space: pre-wrap; word-break: break-all; background: #f7f8fa; padding: 4px 6px; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { text-align: left; border-bottom: 1px solid #e6e8ee; padding: 4px 6px; vertical-align: top; }
td.err { word-break: break-word; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; background: #fde2e2; color: #8a1c1c; font-size: 11px; }
input[type=search] { padding: 3px 6px; }
`;

const SCRIPT = `
(() => {
  'use strict';
  const $ = (sel) => document.querySelector(sel);
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === 'class') node.className = v; else node.setAttribute(k, String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const json = (v) => JSON.stringify(v, null, 2);
  const traceUrl = document.body.dataset.traceUrl || null;
  function traceLink(id) {
    if (!traceUrl || id === null || id === undefined || id === '') return null;
    const u = new URL(traceUrl);
    u.searchParams.set('id', String(id));
    return el('a', { href: u.href, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'trace-link' }, 'trace');
  }
  const when = (sec) => (typeof sec === 'number' ? new Date(sec * 1000).toISOString() : String(sec));
  async function get(path) {
    const res = await fetch(path, { cache: 'no-store' });
    if (!res.ok) throw new Error(path + ' answered ' + res.status);
    return res.json();
  }

  function renderPerson(p) {
    const ids = el('div', { class: 'ids' },
      el('span', { 'data-testid': 'person-id' }, 'id: ' + (p.id ?? '-')),
      el('span', { 'data-testid': 'person-email' }, 'email: ' + (p.email ?? '-')),
      el('span', { 'data-testid': 'person-cio-id' }, 'cio_id: ' + p.cio_id),
      p.phone ? el('span', {}, 'phone: ' + p.phone) : null,
      p.anonymous_ids.length ? el('span', { 'data-testid': 'person-anonymous-ids' }, 'anonymous: ' + p.anonymous_ids.join(', ')) : null,
      p.suppressed ? el('span', { class: 'badge' }, 'suppressed') : null,
      traceLink(p.id ?? p.email));
    const attrs = el('dl', { class: 'attrs', 'data-testid': 'person-attributes' });
    for (const [k, v] of Object.entries(p.attributes)) {
      attrs.append(el('dt', { 'data-attribute-name': k }, k), el('dd', {}, typeof v === 'string' ? v : json(v)));
    }
    const timeline = el('ol', { class: 'timeline', 'data-testid': 'event-timeline' });
    for (const e of p.events) {
      const data = Object.keys(e.data || {}).length ? el('pre', {}, json(e.data)) : null;
      timeline.append(el('li', { 'data-event-name': e.name, 'data-event-id': e.id },
        el('span', { class: 'ev-name' }, e.name), ' ',
        el('span', { class: 'muted' }, (e.type || 'event') + ' · at ' + when(e.timestamp) + ' · received ' + e.received_at + (e.id ? ' · id ' + e.id : '')),
        data));
    }
    return el('article', { class: 'person', 'data-person-id': p.id, 'data-person-email': p.email, 'data-cio-id': p.cio_id },
      ids,
      Object.keys(p.attributes).length ? attrs : el('div', { class: 'muted' }, 'no attributes'),
      p.devices && p.devices.length ? el('div', { class: 'muted' }, 'devices: ' + p.devices.map((d) => d.id + ' (' + (d.platform || '?') + ')').join(', ')) : null,
      el('div', { class: 'muted' }, p.events.length + ' event(s)'),
      timeline);
  }

  function renderPeople(people) {
    const filter = ($('#filter').value || '').toLowerCase();
    const shown = filter ? people.filter((p) => [p.id, p.email, p.cio_id].some((x) => x && String(x).toLowerCase().includes(filter))) : people;
    const list = $('#people');
    list.replaceChildren(...shown.slice(0, 500).map(renderPerson));
    if (shown.length === 0) list.append(el('p', { class: 'muted' }, 'No people yet.'));
    if (shown.length > 500) list.append(el('p', { class: 'muted' }, (shown.length - 500) + ' more not shown; use the filter.'));
    $('#people-count').textContent = String(people.length);
  }

  function renderAnonymous(groups) {
    const box = $('#anonymous');
    box.replaceChildren(...groups.map((g) => el('div', { 'data-anonymous-id': g.anonymous_id },
      el('div', { class: 'ids' }, el('span', {}, 'anonymous_id: ' + (g.anonymous_id ?? '(none)')), traceLink(g.anonymous_id)),
      el('ol', { class: 'timeline' }, ...g.events.map((e) => el('li', { 'data-event-name': e.name }, el('span', { class: 'ev-name' }, e.name), ' ', el('span', { class: 'muted' }, 'received ' + e.received_at)))))));
    if (groups.length === 0) box.append(el('p', { class: 'muted' }, 'None waiting.'));
  }

  function renderRequests(requests) {
    const body = $('#rejected tbody');
    const rows = requests.slice(-500).reverse().map((r) => el('tr', { 'data-request-status': r.status, 'data-request-path': r.path },
      el('td', {}, r.at), el('td', {}, r.method), el('td', {}, r.path),
      el('td', {}, r.status === 0 ? 'none' : r.status), el('td', {}, r.item_count ?? ''),
      el('td', { class: 'err', 'data-testid': 'request-error' }, r.error ?? ''),
      el('td', {}, r.fault ?? '')));
    body.replaceChildren(...rows);
    $('#rejected-count').textContent = String(requests.length);
  }

  let lastPeople = [];
  async function refresh() {
    try {
      const [people, requests, anonymous, config] = await Promise.all([
        get('/_emulator/people?extended=1'), get('/_emulator/requests?rejected=1'), get('/_emulator/anonymous'), get('/_emulator/config')]);
      lastPeople = people;
      renderPeople(people);
      renderRequests(requests);
      renderAnonymous(anonymous);
      $('#config').textContent = json(config);
      $('#status').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.body.dataset.loaded = 'true';
      document.body.dataset.renderCount = String(Number(document.body.dataset.renderCount || 0) + 1);
    } catch (err) {
      $('#status').textContent = 'error: ' + err.message;
    }
  }
  $('#refresh').addEventListener('click', refresh);
  $('#filter').addEventListener('input', () => renderPeople(lastPeople));
  setInterval(() => { if ($('#auto').checked) refresh(); }, 2000);
  refresh();
})();
`;

const hash = (s: string): string => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

export const INSPECTOR_CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'`;

/** For the one attribute value the page is given at build time (a validated URL, escaped anyway). */
function escapeAttribute(v: string): string {
  return v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function inspectorPageHtml(traceUrl: string | null = null): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer.io emulator</title>
<style>${STYLE}</style>
</head>
<body data-loaded="false"${traceUrl === null ? '' : ` data-trace-url="${escapeAttribute(traceUrl)}"`}>
<header>
  <h1>Customer.io Track API emulator</h1>
  <button id="refresh" type="button">Refresh</button>
  <label><input id="auto" type="checkbox" checked> auto-refresh</label>
  <input id="filter" type="search" placeholder="filter by id, email, cio_id" aria-label="filter people">
  <span id="status" data-testid="status">loading…</span>
</header>
<main>
  <section data-testid="people-section"><h2>People (<span id="people-count">0</span>)</h2><div id="people"></div></section>
  <section data-testid="rejected-section"><h2>Rejected or faulted requests (<span id="rejected-count">0</span>)</h2>
    <table id="rejected" data-testid="rejected-requests"><thead><tr><th>at</th><th>method</th><th>path</th><th>status</th><th>items</th><th>error</th><th>fault</th></tr></thead><tbody></tbody></table>
  </section>
  <section data-testid="anonymous-section"><h2>Anonymous events waiting for an identify</h2><div id="anonymous"></div></section>
  <section data-testid="config-section"><h2>Fault settings</h2><pre id="config"></pre></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
