// Dashboard: requests, spend and tokens over time, spend by key, model and
// route, the routing mix, savings against the strongest candidate, error
// rate and latency, refreshed every few seconds while the page is open.

import { api } from './api.js';
import { barChart, areaChart, shareBar, PALETTE } from './charts.js';
import { h, clear, pageHead, notice, usd, int, num, pct, ms, clock, emptyState, plural } from './ui.js';

const POLL_MS = 3000;
const WINDOWS = [['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days']];
const state = { window: '24h', key: '', live: true };

function timeFmt(bucket) {
  if (bucket >= 86400) return (t) => new Date(t * 1000).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  return (t) => new Date(t * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

// "46 / 96 ms" when both are under a second, else each with its unit.
function latencyPair(a, b) {
  if (a === null || a === undefined) return '—';
  if (a < 1 && b < 1) return `${Math.round(a * 1000)} / ${Math.round(b * 1000)} ms`;
  return `${ms(a)} / ${ms(b)}`;
}

function kpi(label, value, sub, cls = '', testid = '') {
  return h('div', { class: 'kpi ' + cls, dataset: { kpi: testid } },
    h('div', { class: 'k-label' }, label), h('div', { class: 'k-value' }, value), sub ? h('div', { class: 'k-sub' }, sub) : null);
}

function panel(title, hint, ...content) {
  return h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h2', {}, title), hint ? h('span', { class: 'hint' }, hint) : null), ...content);
}

function spendTable(rows, what, testid) {
  if (!rows.length) return emptyState('No requests in this window.');
  const max = Math.max(...rows.map((r) => r.cost_usd), 0) || 1;
  return h('div', { class: 'table-wrap' }, h('table', { dataset: { table: testid } },
    h('caption', { class: 'visually-hidden' }, `Spend by ${what}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, what), h('th', { scope: 'col', class: 'num' }, 'Requests'),
      h('th', { scope: 'col', class: 'num' }, 'Errors'), h('th', { scope: 'col', class: 'num' }, 'Tokens'),
      h('th', { scope: 'col', class: 'num' }, 'Avg latency'), h('th', { scope: 'col', class: 'num' }, 'Spend'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Share of spend')))),
    h('tbody', {}, rows.map((r) => {
      const fill = h('div', { class: 'bar-fill' });
      fill.style.width = ((r.cost_usd / max) * 100).toFixed(1) + '%';
      return h('tr', {},
        h('th', { scope: 'row' }, r.label),
        h('td', { class: 'num' }, int(r.requests)),
        h('td', { class: 'num' }, r.errors ? h('span', { class: 'status bad' }, int(r.errors)) : '0'),
        h('td', { class: 'num' }, num(r.total_tokens)),
        h('td', { class: 'num' }, ms(r.avg_latency_s)),
        h('td', { class: 'num' }, usd(r.cost_usd)),
        h('td', { class: 'bar-cell' }, h('div', { class: 'bar-track' }, fill)));
    }))));
}

function routingMix(mix) {
  if (!mix.length) return emptyState('No requests through a route in this window. Call a route (such as ', h('code', {}, 'auto'), ') to see how tandem splits traffic.');
  return h('div', {}, mix.map((r) => {
    const parts = r.models.map((m) => ({ name: m.model, value: m.requests, tip: `${int(m.requests)} requests (${pct(m.share)}), ${usd(m.cost_usd)}` }));
    const label = `${r.route}: ` + r.models.map((m) => `${m.model} ${pct(m.share, 0)}`).join(', ');
    return h('div', { class: 'mix-row', dataset: { route: r.route } },
      h('div', { class: 'mix-title' }, h('strong', {}, r.route), h('span', { class: 'hint' }, plural(r.requests, 'request'))),
      shareBar(parts, label),
      h('div', { class: 'legend' }, r.models.map((m, i) => h('span', {}, h('span', { class: 'sw sw-' + PALETTE[i % PALETTE.length] }), `${m.model} ${pct(m.share, 0)}`))));
  }));
}

function savingsTable(rows) {
  if (!rows.length) return emptyState('Savings appear once requests go through a route with several candidates.');
  return h('div', { class: 'table-wrap' }, h('table', { dataset: { table: 'savings' } },
    h('caption', { class: 'visually-hidden' }, 'Savings by route against always calling its strongest candidate'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Route'), h('th', { scope: 'col' }, 'Strongest'),
      h('th', { scope: 'col', class: 'num' }, 'Requests'), h('th', { scope: 'col', class: 'num' }, 'Spent'),
      h('th', { scope: 'col', class: 'num' }, 'If always strongest'), h('th', { scope: 'col', class: 'num' }, 'Saved'))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('th', { scope: 'row' }, r.route), h('td', {}, r.strongest), h('td', { class: 'num' }, int(r.requests)),
      h('td', { class: 'num' }, usd(r.actual_usd)), h('td', { class: 'num' }, usd(r.baseline_usd)),
      h('td', { class: 'num' }, h('strong', {}, usd(r.savings_usd)), r.savings_pct === null ? '' : ` (${pct(r.savings_pct, 0)})`))))));
}

function privacyText(p) {
  if (!p) return '';
  return Object.entries(p).map(([k, n]) => `${k.toLowerCase().replace(/_/g, ' ')} ×${n}`).join(', ');
}

function recentTable(rows, showKey) {
  if (!rows.length) return emptyState('No requests yet.');
  return h('div', { class: 'table-wrap' }, h('table', { dataset: { table: 'recent' } },
    h('caption', { class: 'visually-hidden' }, 'Latest requests'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'), showKey ? h('th', { scope: 'col' }, 'Key') : null,
      h('th', { scope: 'col' }, 'Asked for'), h('th', { scope: 'col' }, 'Served by'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col', class: 'num' }, 'Tokens'), h('th', { scope: 'col', class: 'num' }, 'Cost'),
      h('th', { scope: 'col', class: 'num' }, 'Latency'), h('th', { scope: 'col' }, 'Privacy'))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('td', {}, clock(r.ts)), showKey ? h('td', {}, r.key || '') : null, h('td', {}, r.requested || ''),
      h('td', {}, r.model || '—'),
      h('td', {}, h('span', { class: 'status ' + (r.status < 400 ? 'ok' : 'bad'), title: r.error || '' }, String(r.status))),
      h('td', { class: 'num' }, int(r.prompt_tokens + r.completion_tokens)), h('td', { class: 'num' }, usd(r.cost_usd)),
      h('td', { class: 'num' }, ms(r.latency_s)), h('td', {}, privacyText(r.privacy)))))));
}

export function render(root, ctx) {
  const session = ctx.session;
  const admin = session.viewer.role === 'admin';
  const scopeText = admin ? 'All keys' : session.viewer.role === 'local' ? 'Requests made without a key on this server (auth is off)' : `Your key: ${session.viewer.name}`;
  const seg = h('div', { class: 'seg', role: 'group', 'aria-label': 'Time window' },
    WINDOWS.map(([w, label]) => h('button', { type: 'button', 'aria-pressed': String(state.window === w), title: label, dataset: { window: w }, onclick: () => {
      state.window = w;
      for (const b of seg.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.window === w));
      refresh(true);
    } }, w)));
  const live = h('button', { type: 'button', class: 'ghost live on', 'aria-pressed': 'true', title: 'Pause or resume live updates', onclick: () => {
    state.live = !state.live;
    live.classList.toggle('on', state.live); live.classList.toggle('off', !state.live);
    live.setAttribute('aria-pressed', String(state.live));
    liveText.textContent = state.live ? 'Live' : 'Paused';
    if (state.live) refresh(true);
  } }, h('span', { class: 'dot', 'aria-hidden': 'true' }));
  const liveText = h('span', {}, 'Live');
  live.append(liveText);
  const updated = h('span', { class: 'hint', id: 'updated', 'aria-live': 'off' }, '');
  const actions = [seg];
  let keySel = null;
  if (admin) {
    keySel = h('select', { 'aria-label': 'Show usage of', class: 'key-filter' },
      h('option', { value: '' }, 'All keys'), h('option', { value: 'anonymous' }, 'No key (auth off)'), h('option', { value: 'admin' }, 'Admin key'));
    keySel.value = state.key;
    keySel.addEventListener('change', () => { state.key = keySel.value; refresh(true); });
    actions.push(keySel);
    api('/admin/keys?all=true').then((res) => {
      for (const k of res.data) keySel.append(h('option', { value: k.id }, `${k.name} (${k.prefix})${k.revoked_at ? ' — revoked' : ''}`));
      keySel.value = state.key;
    }).catch(() => {});
  }
  actions.push(live, updated);
  root.append(pageHead('Dashboard', scopeText, ...actions));
  const errorSlot = h('div', { 'aria-live': 'polite' });
  const content = h('div', { class: 'dash', 'aria-busy': 'true' }, h('p', { class: 'boot' }, 'Loading usage…'));
  root.append(errorSlot, content);

  let inflight = null;
  let stopped = false;

  async function refresh(force = false) {
    if (stopped) return;
    if (inflight) { if (!force) return; inflight.abort(); }
    const ctrl = new AbortController();
    inflight = ctrl;
    const q = new URLSearchParams({ window: state.window });
    if (admin && state.key) q.set('key', state.key);
    try {
      const data = await api('/console/api/dashboard?' + q, { signal: ctrl.signal });
      if (stopped || ctrl.signal.aborted) return;
      clear(errorSlot);
      draw(data);
      updated.textContent = 'updated ' + clock(data.now);
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(errorSlot).append(notice(`Could not refresh the dashboard: ${e.message}`, 'error'));
    } finally {
      if (inflight === ctrl) inflight = null;
    }
  }

  function draw(d) {
    const t = d.totals;
    const xFmt = timeFmt(d.bucket_seconds);
    const tip = (row) => `${xFmt(row.t)}: ${int(row.requests)} requests, ${int(row.errors)} errors, ${num(row.tokens)} tokens, ${usd(row.cost_usd)}`;
    clear(content);
    content.setAttribute('aria-busy', 'false');
    const savedSub = t.baseline_usd > 0 ? `${pct(t.savings_usd / t.baseline_usd, 0)} of ${usd(t.baseline_usd)} if always the strongest model` : 'against the strongest candidate of each route';
    content.append(h('div', { class: 'kpis' },
      kpi('Requests', int(t.requests), `${int(t.errors)} failed`, '', 'requests'),
      kpi('Spend', usd(t.cost_usd), plural(t.requests, 'request'), '', 'spend'),
      kpi('Tokens', num(t.total_tokens), `${num(t.prompt_tokens)} in · ${num(t.completion_tokens)} out`, '', 'tokens'),
      kpi('Saved by routing', usd(t.savings_usd), savedSub, t.savings_usd > 0 ? 'good' : '', 'savings'),
      kpi('Error rate', pct(t.error_rate), `${int(t.errors)} of ${int(t.requests)}`, '', 'errors'),
      kpi('Latency p50 / p95', latencyPair(t.latency_p50_s, t.latency_p95_s), t.latency_sample ? `over ${plural(t.latency_sample, 'request')}` : 'no requests yet', '', 'latency')));
    const series = d.series.map((r) => ({ ...r, ok: r.requests - r.errors }));
    // Charts are drawn at about their on-screen size, so their text stays legible.
    const full = Math.max(320, (content.clientWidth || 1200) - 44);
    const half = Math.max(320, (full - 16) / 2 - 40);
    content.append(panel('Requests', `per ${d.bucket_seconds >= 86400 ? 'day (UTC)' : d.bucket_seconds >= 3600 ? 'hour' : `${d.bucket_seconds / 60} min`}`,
      barChart({ data: series, label: 'Requests over time', series: [{ key: 'ok', name: 'Succeeded', color: 'c1' }, { key: 'errors', name: 'Failed', color: 'err' }], xFmt, yFmt: (v) => num(v), tipFmt: tip, width: full })));
    content.append(h('div', { class: 'grid two' },
      panel('Spend', null, areaChart({ data: series, key: 'cost_usd', label: 'Spend over time in US dollars', xFmt, yFmt: usd, tipFmt: tip, color: 'c4', width: half })),
      panel('Tokens', null, barChart({ data: series, label: 'Tokens over time', series: [{ key: 'tokens', name: 'Tokens', color: 'c2' }], xFmt, yFmt: (v) => num(v), tipFmt: tip, width: half }))));
    content.append(h('div', { class: 'grid two' },
      panel('Spend by model', null, spendTable(d.by_model, 'Model', 'by-model')),
      panel('Spend by route', 'direct calls name a model, not a route', spendTable(d.by_route, 'Route', 'by-route'))));
    content.append(panel(admin ? 'Spend by key' : 'Your key', admin ? null : 'only your own usage is shown', spendTable(d.by_key, 'Key', 'by-key')));
    content.append(h('div', { class: 'grid two' },
      panel('Routing mix', 'which model served each route', routingMix(d.routing_mix)),
      panel('Savings', 'actual spend vs. the same tokens on the route\u2019s strongest candidate', savingsTable(d.savings))));
    content.append(panel('Latest requests', 'newest first', recentTable(d.recent, admin)));
  }

  refresh(true);
  const timer = setInterval(() => {
    if (state.live && document.visibilityState === 'visible') refresh(false);
  }, POLL_MS);
  return () => { stopped = true; clearInterval(timer); if (inflight) inflight.abort(); };
}
