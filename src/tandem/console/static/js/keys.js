// Keys (admin only): create (the secret is shown once), list, set budgets
// and limits, revoke. Everything goes through the admin API (/admin/keys).

import { api } from './api.js';
import { h, clear, field, pageHead, notice, usd, int, when, toast, emptyState } from './ui.js';

const POLICIES = [['', 'Inherit (route or server default)'], ['allow', 'Allow'], ['redact', 'Redact personal data'], ['local-only', 'Local models only'], ['block', 'Block personal data']];
const CONTROL = /[\u0000-\u001f\u007f]/;
const state = { showRevoked: false };

function utcDate(d) {
  return d.toISOString().slice(0, 10);
}

function money(v) { return v === null || v === undefined ? '' : String(v); }

// --- validation (mirrors the server's KeySpec; the server checks again) ---

export function checkText(v, { required = false, label = 'This field' } = {}) {
  if (!v) return required ? `${label} is required.` : null;
  if (v.length > 200) return `${label} must be at most 200 characters.`;
  if (CONTROL.test(v)) return `${label} must not contain control characters.`;
  return null;
}

export function checkMoney(v) {
  if (v === '') return null;
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(v)) return 'Enter an amount in US dollars, like 5 or 12.50.';
  if (Number(v) > 1e9) return 'Budgets are limited to $1,000,000,000.';
  return null;
}

export function checkCount(v) {
  if (v === '') return null;
  if (!/^\d+$/.test(v) || Number(v) < 1) return 'Enter a whole number of at least 1.';
  if (Number(v) > 1e9) return 'At most 1,000,000,000.';
  return null;
}

function parseTags(v) {
  return v.split(',').map((t) => t.trim()).filter(Boolean);
}

function keyForm({ models, values = {}, create }) {
  const f = {};
  const input = (name, attrs = {}) => h('input', { type: 'text', name, autocomplete: 'off', ...attrs });
  f.name = field('Name', input('name', { value: values.name || '', maxlength: 200, required: true }), { help: 'Who or what uses this key, e.g. "support-bot".' });
  const fields = [f.name];
  if (create) {
    f.owner = field('Owner', input('owner', { maxlength: 200 }), { help: 'Optional: a person or email.' });
    f.team = field('Team', input('team', { maxlength: 200 }));
    f.tags = field('Tags', input('tags'), { help: 'Optional, comma-separated.' });
    fields.push(h('div', { class: 'row' }, f.owner, f.team, f.tags));
  }
  const num = (name, v, attrs) => h('input', { type: 'text', inputmode: 'decimal', name, value: money(v), placeholder: 'no limit', ...attrs });
  f.budget_day_usd = field('Per day (USD)', num('budget_day_usd', values.budget_day_usd));
  f.budget_month_usd = field('Per month (USD)', num('budget_month_usd', values.budget_month_usd));
  f.budget_total_usd = field('In total (USD)', num('budget_total_usd', values.budget_total_usd));
  fields.push(h('fieldset', {}, h('legend', {}, 'Budget'), h('div', { class: 'row' }, f.budget_day_usd, f.budget_month_usd, f.budget_total_usd)));
  f.rpm_limit = field('Requests per minute', num('rpm_limit', values.rpm_limit, { inputmode: 'numeric' }));
  f.tpm_limit = field('Tokens per minute', num('tpm_limit', values.tpm_limit, { inputmode: 'numeric' }));
  const policy = h('select', { name: 'privacy_policy' }, POLICIES.map(([v, l]) => h('option', { value: v }, l)));
  policy.value = values.privacy_policy || '';
  f.privacy_policy = field('Privacy policy', policy);
  fields.push(h('fieldset', {}, h('legend', {}, 'Limits'), h('div', { class: 'row' }, f.rpm_limit, f.tpm_limit, f.privacy_policy)));
  const exp = h('input', { type: 'date', name: 'expires', min: utcDate(new Date()), value: values.expires_at ? utcDate(new Date((values.expires_at - 1) * 1000)) : '' });
  f.expires = field('Valid until (end of day, UTC)', exp, { help: 'Leave empty for a key that never expires.' });
  fields.push(f.expires);
  if (create && models && models.length) {
    const boxes = models.map((m) => h('label', {}, h('input', { type: 'checkbox', name: 'allowed', value: m.id, dataset: { kind: (m.tandem || {}).kind || 'model' } }), m.id));
    f.allowed = h('fieldset', {}, h('legend', {}, 'Allowed models and routes'), h('div', { class: 'checks' }, boxes),
      h('p', { class: 'help' }, 'Leave all unchecked to allow every model and route.'));
    fields.push(f.allowed);
  }
  return { f, fields };
}

// Validate the form; returns the JSON body or null (errors shown in place).
function readForm(f, create) {
  let ok = true;
  const body = {};
  const set = (fld, err) => { fld.setError(err); if (err) ok = false; };
  const name = f.name.control.value.trim();
  set(f.name, checkText(name, { required: true, label: 'Name' }));
  body.name = name;
  if (create) {
    for (const k of ['owner', 'team']) {
      const v = f[k].control.value.trim();
      set(f[k], checkText(v, { label: k[0].toUpperCase() + k.slice(1) }));
      if (v) body[k] = v;
    }
    const tags = parseTags(f.tags.control.value);
    let tagErr = null;
    if (tags.length > 50) tagErr = 'At most 50 tags.';
    for (const t of tags) tagErr = tagErr || checkText(t, { label: 'Each tag' });
    set(f.tags, tagErr);
    if (tags.length) body.tags = tags;
  }
  for (const k of ['budget_day_usd', 'budget_month_usd', 'budget_total_usd']) {
    const v = f[k].control.value.trim();
    set(f[k], checkMoney(v));
    body[k] = v === '' ? null : Number(v);
  }
  for (const k of ['rpm_limit', 'tpm_limit']) {
    const v = f[k].control.value.trim();
    set(f[k], checkCount(v));
    body[k] = v === '' ? null : Number(v);
  }
  body.privacy_policy = f.privacy_policy.control.value || null;
  const exp = f.expires.control.value;
  if (exp) {
    const end = Date.parse(exp + 'T00:00:00Z') / 1000 + 86400;
    if (Number.isNaN(end)) set(f.expires, 'Enter a valid date.');
    else if (end <= Date.now() / 1000) set(f.expires, 'The date must be today or later.');
    else { f.expires.setError(null); body.expires_at = end; }
  } else {
    f.expires.setError(null);
    body.expires_at = null;
  }
  if (create && f.allowed) {
    const checked = [...f.allowed.querySelectorAll('input:checked')];
    const models = checked.filter((c) => c.dataset.kind !== 'route').map((c) => c.value);
    const routes = checked.filter((c) => c.dataset.kind === 'route').map((c) => c.value);
    if (checked.length) { body.allowed_models = models; body.allowed_routes = routes; }
  }
  if (create) for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
  return ok ? body : null;
}

function showServerError(err, f, slot) {
  const param = err.param ? String(err.param).split('.')[0] : null;
  if (param && f[param]) { f[param].setError(err.message); f[param].control.focus(); return; }
  clear(slot).append(notice(err.message, 'error'));
}

function focusFirstError(form) {
  const bad = form.querySelector('[aria-invalid=true]');
  if (bad) bad.focus();
}

function status(k) {
  if (k.revoked_at) return h('span', { class: 'status bad' }, 'revoked');
  if (k.expires_at && k.expires_at * 1000 < Date.now()) return h('span', { class: 'status warn' }, 'expired');
  return h('span', { class: 'status ok' }, 'active');
}

function budgetText(k, spend) {
  const parts = [];
  const s = spend[k.id] || { day: 0, month: 0, total: 0 };
  if (k.budget_day_usd !== null) parts.push(`${usd(s.day)} of ${usd(k.budget_day_usd)} today`);
  if (k.budget_month_usd !== null) parts.push(`${usd(s.month)} of ${usd(k.budget_month_usd)} this month`);
  if (k.budget_total_usd !== null) parts.push(`${usd(s.total)} of ${usd(k.budget_total_usd)} in total`);
  return parts.length ? parts.map((p) => h('div', {}, p)) : h('span', { class: 'hint' }, 'no budget');
}

function limitText(k) {
  const parts = [];
  if (k.rpm_limit !== null) parts.push(`${int(k.rpm_limit)} req/min`);
  if (k.tpm_limit !== null) parts.push(`${int(k.tpm_limit)} tok/min`);
  if (k.privacy_policy) parts.push(`privacy: ${k.privacy_policy}`);
  return parts.length ? parts.map((p) => h('div', {}, p)) : h('span', { class: 'hint' }, 'none');
}

async function loadSpend() {
  const now = new Date();
  const today = utcDate(now);
  const month = today.slice(0, 8) + '01';
  const [day, mon, total] = await Promise.all([
    api('/admin/usage?by=key&since=' + today), api('/admin/usage?by=key&since=' + month), api('/admin/usage?by=key'),
  ]);
  const spend = {};
  const put = (rows, k) => { for (const r of rows.data) { spend[r.group] = spend[r.group] || { day: 0, month: 0, total: 0 }; spend[r.group][k] = r.cost_usd; } };
  put(day, 'day'); put(mon, 'month'); put(total, 'total');
  return spend;
}

export function render(root, ctx) {
  const session = ctx.session;
  root.append(pageHead('Keys', 'Create API keys for people and apps, give them budgets and limits, revoke them.'));
  if (session.viewer.role !== 'admin') {
    const msg = session.admin_key_set
      ? 'Managing keys needs the admin key. Sign in with it to continue.'
      : `Managing keys needs the admin key, and none is set on this server: set ${session.admin_key_env} in the server's environment and restart tandem serve.`;
    root.append(notice(msg, 'warn'));
    if (session.admin_key_set) root.append(h('a', { class: 'btn primary', href: '#/signin' }, 'Sign in with the admin key'));
    return null;
  }
  let models = [];
  const createSlot = h('div', {});
  const listSlot = h('section', { class: 'panel' });
  root.append(createSlot, listSlot);

  const dialogs = [];
  const cleanup = () => dialogs.forEach((d) => { if (d.open) d.close(); d.remove(); });

  function drawCreate() {
    clear(createSlot);
    const { f, fields } = keyForm({ models, create: true });
    const errSlot = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create key');
    const form = h('form', { class: 'panel create-key', novalidate: true, 'aria-labelledby': 'create-key-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'create-key-title' }, 'New key')), errSlot, ...fields,
      h('div', {}, submit));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(errSlot);
      const body = readForm(f, true);
      if (!body) { focusFirstError(form); return; }
      submit.disabled = true;
      try {
        const res = await api('/admin/keys', { method: 'POST', body });
        showSecret(res);
        await drawList();
      } catch (err) {
        showServerError(err, f, errSlot);
      } finally {
        submit.disabled = false;
      }
    });
    const details = h('details', { class: 'create-wrap' }, h('summary', { class: 'btn primary' }, '+ New key'), form);
    createSlot.append(details);
  }

  function showSecret(res) {
    clear(createSlot);
    const input = h('input', { type: 'text', readonly: true, value: res.secret, class: 'secret-value', 'aria-label': 'The new key\u2019s secret' });
    const copy = h('button', { type: 'button', onclick: async () => {
      try { await navigator.clipboard.writeText(res.secret); toast('Copied to the clipboard.'); } catch {
        input.select();
        toast('Select the secret and copy it (Ctrl+C).');
      }
    } }, 'Copy');
    const done = h('button', { type: 'button', class: 'primary', onclick: () => drawCreate() }, 'I have stored it');
    createSlot.append(h('div', { class: 'secret-box', role: 'alert' },
      h('h2', {}, `Key “${res.key.name}” created`),
      h('p', {}, h('strong', {}, 'Copy this secret now: it is shown only once.'), ' tandem keeps only a hash of it.'),
      h('div', { class: 'input-row' }, input, copy), h('p', {}), done));
    input.focus();
    input.select();
  }

  async function drawList() {
    let keys; let spend = {};
    try {
      keys = (await api('/admin/keys' + (state.showRevoked ? '?all=true' : ''))).data;
      try { spend = await loadSpend(); } catch { spend = {}; }
    } catch (e) {
      clear(listSlot).append(notice(`Could not list keys: ${e.message}`, 'error'));
      return;
    }
    const toggle = h('label', { class: 'checks' }, h('input', { type: 'checkbox', checked: state.showRevoked, onchange: (e) => { state.showRevoked = e.target.checked; drawList(); } }), 'Show revoked keys');
    clear(listSlot).append(h('div', { class: 'panel-head' }, h('h2', {}, 'Keys'), h('span', { class: 'hint' }, `${keys.length} key${keys.length === 1 ? '' : 's'}`), h('span', { class: 'actions' }, toggle)));
    if (!keys.length) { listSlot.append(emptyState('No keys yet. Create one for each person or app that calls tandem.')); return; }
    listSlot.append(h('div', { class: 'table-wrap' }, h('table', { dataset: { table: 'keys' } },
      h('caption', { class: 'visually-hidden' }, 'API keys'),
      h('thead', {}, h('tr', {}, ['Name', 'Prefix', 'Status', 'Budget', 'Limits', 'Models', 'Created', 'Spent'].map((c) => h('th', { scope: 'col', class: c === 'Spent' ? 'num' : null }, c)),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', {}, keys.map((k) => h('tr', { class: k.revoked_at ? 'revoked' : '', dataset: { key: k.id, name: k.name } },
        h('th', { scope: 'row' }, k.name, k.owner || k.team ? h('div', { class: 'hint' }, [k.owner, k.team].filter(Boolean).join(' · ')) : null),
        h('td', { class: 'mono' }, k.prefix + '…'),
        h('td', {}, status(k)),
        h('td', {}, budgetText(k, spend)),
        h('td', {}, limitText(k)),
        h('td', {}, k.allowed_models === null && k.allowed_routes === null ? 'any' : [...(k.allowed_models || []), ...(k.allowed_routes || [])].join(', ') || 'none'),
        h('td', {}, when(k.created_at)),
        h('td', { class: 'num' }, usd((spend[k.id] || {}).total || 0)),
        h('td', { class: 'num' }, k.revoked_at ? null : h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'small edit-btn', 'aria-label': `Edit ${k.name}`, onclick: () => editDialog(k) }, 'Edit'),
          ' ',
          h('button', { type: 'button', class: 'small danger revoke-btn', 'aria-label': `Revoke ${k.name}`, onclick: () => revokeDialog(k) }, 'Revoke'))),
      ))))));
  }

  function dialog(title, content, actions) {
    const d = h('dialog', { 'aria-labelledby': 'dlg-title' });
    const box = h('form', { method: 'dialog', novalidate: true }, h('h2', { id: 'dlg-title' }, title), content, h('div', { class: 'dlg-actions' }, actions));
    d.append(box);
    document.body.append(d);
    dialogs.push(d);
    d.addEventListener('close', () => { d.remove(); });
    d.showModal();
    return { d, box };
  }

  function editDialog(k) {
    const { f, fields } = keyForm({ values: k, create: false });
    const errSlot = h('div', { 'aria-live': 'polite' });
    const cancel = h('button', { type: 'button', onclick: () => d.close() }, 'Cancel');
    const save = h('button', { type: 'submit', class: 'primary', value: 'save' }, 'Save changes');
    const { d, box } = dialog(`Edit ${k.name}`, [errSlot, ...fields], [cancel, save]);
    box.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(errSlot);
      const body = readForm(f, false);
      if (!body) { focusFirstError(box); return; }
      save.disabled = true;
      try {
        await api('/admin/keys/' + encodeURIComponent(k.id), { method: 'PATCH', body });
        d.close();
        toast(`Saved ${body.name}.`);
        drawList();
      } catch (err) {
        showServerError(err, f, errSlot);
      } finally {
        save.disabled = false;
      }
    });
  }

  function revokeDialog(k) {
    const errSlot = h('div', { 'aria-live': 'polite' });
    const cancel = h('button', { type: 'button', onclick: () => d.close() }, 'Cancel');
    const confirm = h('button', { type: 'submit', class: 'danger solid', value: 'revoke' }, 'Revoke key');
    const { d, box } = dialog(`Revoke ${k.name}?`, [errSlot,
      h('p', {}, 'Apps using ', h('span', { class: 'mono' }, k.prefix + '…'), ' are refused from their next request. This cannot be undone.')], [cancel, confirm]);
    box.addEventListener('submit', async (e) => {
      e.preventDefault();
      confirm.disabled = true;
      try {
        await api('/admin/keys/' + encodeURIComponent(k.id) + '/revoke', { method: 'POST' });
        d.close();
        toast(`Revoked ${k.name}.`);
        drawList();
      } catch (err) {
        clear(errSlot).append(notice(err.message, 'error'));
      } finally {
        confirm.disabled = false;
      }
    });
    cancel.focus();
  }

  listSlot.append(h('p', { class: 'boot' }, 'Loading keys…'));
  api('/v1/models').then((r) => { models = r.data || []; }).catch(() => { models = []; }).finally(drawCreate);
  drawList();
  return cleanup;
}
