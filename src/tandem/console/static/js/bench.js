// Bench: past `tandem bench` runs and their reports. The report is the
// bench's own HTML, shown in a sandboxed iframe (opaque origin: it cannot
// read this page's storage) through a short-lived link.

import { scatterChart } from './charts.js';
import { api, authHeaders } from './api.js';
import { h, clear, pageHead, notice, when, usd, pct, ms, emptyState, toast } from './ui.js';

function runLink(run) {
  return '#/bench/' + encodeURIComponent(run.id);
}

export function render(root, ctx) {
  if (ctx.param) return renderRun(root, ctx.param);
  root.append(pageHead('Bench', 'Price, quality and latency of models and routes, measured on your own data with tandem bench.'));
  const body = h('div', { class: 'panel' }, h('p', { class: 'boot' }, 'Loading bench runs…'));
  root.append(body);
  api('/console/api/bench').then((res) => {
    clear(body);
    const runs = res.data || [];
    if (!runs.length) {
      body.append(emptyState(h('p', {}, 'No bench runs yet.'),
        h('p', {}, 'Run ', h('code', {}, 'tandem bench'), ' on this server, then reload this page.'),
        res.roots ? h('p', {}, 'Runs are read from ', res.roots.map((r, i) => [i ? ', ' : '', h('code', {}, r)]), ' (set ', h('code', {}, 'TANDEM_BENCH_DIR'), ' to add a directory).') : null));
      return;
    }
    body.append(h('div', { class: 'table-wrap' }, h('table', { dataset: { table: 'bench-runs' } },
      h('caption', { class: 'visually-hidden' }, 'Bench runs, newest first'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Run'), h('th', { scope: 'col' }, 'When'),
        h('th', { scope: 'col' }, 'Dataset'), h('th', { scope: 'col' }, 'Models and routes'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', {}, runs.map((r) => h('tr', { dataset: { run: r.id } },
        h('th', { scope: 'row' }, h('a', { href: runLink(r) }, r.title || r.id), r.title ? h('div', { class: 'run-meta mono' }, r.id) : null),
        h('td', {}, when(r.created)),
        h('td', {}, r.dataset || '—'),
        h('td', {}, r.models.length ? r.models.join(', ') : '—'),
        h('td', { class: 'num' }, h('a', { class: 'btn small', href: runLink(r) }, r.has_report ? 'Open report' : 'Open')),
      ))))));
  }).catch((e) => { clear(body).append(notice(`Could not list bench runs: ${e.message}`, 'error')); });
  return null;
}

// Pick the rows of a summary that look like a results table.
export function summaryRows(summary) {
  for (const k of ['results', 'models', 'rows', 'targets', 'summary']) {
    const v = summary[k];
    if (Array.isArray(v) && v.length && v.every((r) => r && typeof r === 'object' && !Array.isArray(r))) return v;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const vals = Object.entries(v);
      if (vals.length && vals.every(([, r]) => r && typeof r === 'object' && !Array.isArray(r))) {
        return vals.map(([name, r]) => ({ model: name, ...r }));
      }
    }
  }
  return [];
}

function scalarColumns(rows) {
  const cols = [];
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if (!cols.includes(k) && (v === null || ['string', 'number', 'boolean'].includes(typeof v))) cols.push(k);
    }
  }
  return cols.slice(0, 12);
}

function fmtCell(k, v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (/usd|cost|price|spend/i.test(k)) return usd(v);
    if (Number.isInteger(v)) return v.toLocaleString();
    return v.toLocaleString(undefined, { maximumSignificantDigits: 4 });
  }
  return String(v);
}

function findCol(cols, rows, re) {
  return cols.find((c) => re.test(c) && rows.every((r) => typeof r[c] === 'number' || r[c] === null));
}

function ci(t) {
  if (t.ci_low === null || t.ci_high === null || t.ci_low === undefined) return '';
  return t.binary ? `${pct(t.ci_low)}–${pct(t.ci_high)}` : `${t.ci_low.toFixed(3)}–${t.ci_high.toFixed(3)}`;
}

function score(t) {
  if (t.score === null || t.score === undefined) return '—';
  return t.binary ? pct(t.score) : t.score.toFixed(3);
}

function servedText(t) {
  const served = Object.entries(t.served || {});
  if (t.kind !== 'route' || !served.length) return '';
  const total = served.reduce((a, [, n]) => a + n, 0) || 1;
  return served.map(([m, n]) => `${m} ${pct(n / total, 0)}`).join(', ');
}

// tandem bench's report.json: findings, one row per model or route, a plot.
function renderTargets(summary) {
  const targets = summary.targets.filter((t) => t && typeof t === 'object');
  const parts = [];
  if (Array.isArray(summary.findings) && summary.findings.length) {
    parts.push(h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Findings')),
      h('ul', { class: 'findings' }, summary.findings.map((f) => h('li', {}, String(f))))));
  }
  const table = h('div', { class: 'table-wrap' }, h('table', { dataset: { table: 'bench-summary' } },
    h('caption', { class: 'visually-hidden' }, 'Score, cost, latency and errors of each model and route'),
    h('thead', {}, h('tr', {}, ['Model or route', 'Score', '95% CI', 'Cost / 1k requests', 'Latency p50 / p95', 'First token p50', 'Errors', 'Served by']
      .map((c, i) => h('th', { scope: 'col', class: i > 0 && i < 7 ? 'num' : null }, c)))),
    h('tbody', {}, targets.map((t) => h('tr', { dataset: { target: t.target } },
      h('th', { scope: 'row' }, t.target, t.kind === 'route' ? h('span', { class: 'chip' }, 'route') : null,
        t.on_cost_frontier ? h('span', { class: 'chip cost', title: 'On the quality/cost Pareto frontier' }, 'frontier') : null),
      h('td', { class: 'num' }, score(t)), h('td', { class: 'num' }, ci(t)),
      h('td', { class: 'num' }, usd(t.cost_per_1k)),
      h('td', { class: 'num' }, `${ms(t.latency_p50)} / ${ms(t.latency_p95)}`),
      h('td', { class: 'num' }, ms(t.ttft_p50)),
      h('td', { class: 'num' }, t.errors ? h('span', { class: 'status bad' }, `${t.errors} of ${t.requests}`) : `0 of ${t.requests}`),
      h('td', {}, servedText(t)))))));
  const points = targets.filter((t) => typeof t.cost_per_1k === 'number' && typeof t.score === 'number')
    .map((t) => ({ label: t.target, x: t.cost_per_1k, y: t.score }));
  const plot = points.length ? scatterChart({
    points, label: 'Score against cost per 1,000 requests', xLabel: 'USD per 1k requests', yLabel: 'score',
    xFmt: usd, yFmt: (v) => (targets.every((t) => t.binary) ? pct(v, 0) : v.toFixed(2)),
  }) : null;
  parts.push(h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Results'),
    summary.dataset && summary.dataset.name ? h('span', { class: 'hint' }, `${summary.dataset.name}, ${summary.dataset.items} items`) : null),
  h('div', { class: 'stack-v' }, table, plot ? h('figure', { class: 'scatter' }, plot,
    h('figcaption', { class: 'hint' }, 'Up and to the left is better: a higher score for less money.')) : null)));
  return h('div', { class: 'stack-v' }, parts);
}

function renderSummary(summary) {
  if (Array.isArray(summary.targets) && summary.targets.some((t) => t && 'target' in t)) return renderTargets(summary);
  const rows = summaryRows(summary);
  if (!rows.length) return null;
  const cols = scalarColumns(rows);
  const nameCol = cols.find((c) => /^(model|name|target|route)$/i.test(c)) || cols[0];
  const costCol = findCol(cols, rows, /cost|usd|price/i);
  const qualCol = findCol(cols, rows, /quality|score|accuracy|pass|mean/i);
  const cell = (r, c) => (c === nameCol
    ? h('th', { scope: 'row' }, fmtCell(c, r[c]))
    : h('td', { class: typeof r[c] === 'number' ? 'num' : null }, fmtCell(c, r[c])));
  const head = h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: typeof rows[0][c] === 'number' ? 'num' : null }, c.replace(/_/g, ' '))));
  const tbody = h('tbody', {}, rows.map((r) => h('tr', {}, cols.map((c) => cell(r, c)))));
  const parts = [h('div', { class: 'table-wrap' }, h('table', { dataset: { table: 'bench-summary' } },
    h('caption', { class: 'visually-hidden' }, 'Bench results'), h('thead', {}, head), tbody))];
  if (costCol && qualCol) {
    const points = rows.filter((r) => typeof r[costCol] === 'number' && typeof r[qualCol] === 'number')
      .map((r) => ({ label: String(r[nameCol]), x: r[costCol], y: r[qualCol] }));
    if (points.length) {
      parts.push(h('div', { class: 'scatter' }, scatterChart({
        points, label: `${qualCol} against ${costCol} per model`, xLabel: costCol.replace(/_/g, ' '), yLabel: qualCol.replace(/_/g, ' '),
        xFmt: usd, yFmt: (v) => v.toLocaleString(undefined, { maximumSignificantDigits: 3 }),
      })));
    }
  }
  return h('div', { class: 'stack-v' }, parts);
}

// Result files need the key, so they are fetched and saved from a blob.
async function download(runId, name) {
  try {
    const res = await fetch(`/console/api/bench/${encodeURIComponent(runId)}/files/${encodeURIComponent(name)}`, { headers: authHeaders(), cache: 'no-store' });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: `${runId}-${name}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    toast(`Could not download ${name}: ${e.message}`, 'error');
  }
}

function renderRun(root, runId) {
  const back = h('a', { href: '#/bench', class: 'btn small' }, '← All runs');
  const openNew = h('a', { class: 'btn small', target: '_blank', rel: 'noopener noreferrer', hidden: true }, 'Open in a new tab');
  const downloads = h('span', { class: 'downloads' });
  root.append(pageHead(`Bench run ${runId}`, null, back, downloads, openNew));
  const sub = h('p', { class: 'sub run-meta' });
  root.querySelector('.page-head > div').append(sub);
  api('/console/api/bench').then((res) => {
    const run = (res.data || []).find((r) => r.id === runId);
    for (const name of run ? run.downloads : []) {
      downloads.append(h('button', { type: 'button', class: 'small', onclick: () => download(runId, name) }, `⤓ ${name}`), ' ');
    }
  }).catch(() => {});
  const summarySlot = h('div', {});
  const reportSlot = h('div', { class: 'report' }, h('p', { class: 'boot' }, 'Loading the report…'));
  root.append(summarySlot, reportSlot);
  api('/console/api/bench/' + encodeURIComponent(runId)).then((res) => {
    const s = res.summary || {};
    const title = s.title || s.name || (typeof s.dataset === 'string' ? s.dataset : null);
    const heading = root.querySelector('h1');
    if (title && heading) heading.textContent = title;
    if (s.created) sub.textContent = `${s.created}` + (s.dataset && s.dataset.source ? ` · ${s.dataset.source}` : '');
    const table = renderSummary(s);
    if (table && Array.isArray(s.targets)) summarySlot.append(table);
    else if (table) summarySlot.append(h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Summary'), h('span', { class: 'hint mono' }, runId)), table));
  }).catch((e) => {
    if (e.status !== 404) summarySlot.append(notice(`Could not read the run's summary: ${e.message}`, 'error'));
  });
  api(`/console/api/bench/${encodeURIComponent(runId)}/ticket`, { method: 'POST' }).then((res) => {
    clear(reportSlot);
    const frame = h('iframe', {
      class: 'report-frame', src: res.url, title: `Bench report ${runId}`,
      sandbox: 'allow-popups allow-popups-to-escape-sandbox', referrerpolicy: 'no-referrer',
    });
    openNew.href = res.url;
    openNew.hidden = false;
    reportSlot.append(h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Report'),
      h('span', { class: 'hint' }, 'the full report written by tandem bench')), frame));
  }).catch((e) => {
    clear(reportSlot).append(notice(e.status === 404 ? (e.message.includes('no bench run') ? e.message : 'This run has no HTML report.') : `Could not open the report: ${e.message}`, e.status === 404 ? 'warn' : 'error'));
  });
  return null;
}

export { renderSummary };
