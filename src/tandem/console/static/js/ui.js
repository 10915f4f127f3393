// DOM helpers and formatters. Text always goes in as text nodes (never as
// HTML), so data from the server cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' && 'checked' in el) el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// --- formatters ---

const usdSmall = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 });
const usdBig = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const intFmt = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export function usd(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (v === 0) return '$0';
  return Math.abs(v) >= 1 ? usdBig.format(v) : usdSmall.format(v);
}

export function int(v) {
  return v === null || v === undefined ? '—' : intFmt.format(v);
}

export function num(v) {
  if (v === null || v === undefined) return '—';
  return Math.abs(v) >= 10000 ? compact.format(v) : intFmt.format(Math.round(v * 100) / 100);
}

export function plural(n, word, many = word + 's') {
  return `${int(n)} ${n === 1 ? word : many}`;
}

export function pct(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return (v * 100).toFixed(digits) + '%';
}

export function ms(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const v = seconds * 1000;
  if (v < 1000) return Math.round(v) + ' ms';
  return (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s';
}

export function when(epoch) {
  if (!epoch) return '—';
  return new Date(epoch * 1000).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

export function clock(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function ago(epoch) {
  const d = Math.max(0, Date.now() / 1000 - epoch);
  if (d < 5) return 'just now';
  if (d < 60) return Math.round(d) + ' s ago';
  if (d < 3600) return Math.round(d / 60) + ' min ago';
  if (d < 86400) return Math.round(d / 3600) + ' h ago';
  return Math.round(d / 86400) + ' d ago';
}

// --- small components ---

export function toast(message, kind = '') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : null }, message);
  box.append(t);
  setTimeout(() => t.remove(), 4500);
}

export function notice(message, kind = '') {
  return h('div', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : null }, message);
}

export function pageHead(title, sub, ...actions) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', { tabindex: '-1', class: 'view-title' }, title), sub ? h('p', { class: 'sub' }, sub) : null),
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

export function emptyState(...content) {
  return h('div', { class: 'empty' }, content);
}

let uid = 0;
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

// A labelled form field with help text and an error slot wired for
// assistive technology (aria-describedby, aria-invalid).
export function field(label, control, { help, id } = {}) {
  const cid = id || control.id || nextId('fld');
  control.id = cid;
  const helpEl = help ? h('div', { class: 'help', id: cid + '-help' }, help) : null;
  const errEl = h('div', { class: 'err', id: cid + '-err', hidden: true });
  control.setAttribute('aria-describedby', [helpEl ? cid + '-help' : null, cid + '-err'].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: cid }, label), control, helpEl, errEl);
  wrap.setError = (msg) => {
    if (msg) {
      errEl.textContent = msg;
      errEl.hidden = false;
      control.setAttribute('aria-invalid', 'true');
    } else {
      errEl.textContent = '';
      errEl.hidden = true;
      control.removeAttribute('aria-invalid');
    }
  };
  wrap.control = control;
  // An error goes away as soon as the value is changed.
  control.addEventListener('input', () => wrap.setError(null));
  control.addEventListener('change', () => wrap.setError(null));
  return wrap;
}
