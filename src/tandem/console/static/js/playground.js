// Playground: chat with streamed replies, one to three models side by side.
// Every reply shows who answered, why, what it cost, how long it took, its
// tokens and what the privacy guard redacted.

import { api } from './api.js';
import { streamChat } from './sse.js';
import { h, clear, field, pageHead, notice, usd, ms, int, nextId } from './ui.js';

const MAX_PANES = 3;
const MAX_PROMPT = 100000;

// Kept across visits to the page within the tab.
const state = {
  panes: [],
  system: '',
  temperature: '',
  maxTokens: '',
  draft: '',
};

let models = null; // cached /v1/models entries

function paneState(model) {
  return { id: nextId('pane'), model, messages: [], controller: null };
}

function modelLabel(m) {
  const t = m.tandem || {};
  if (t.kind === 'route') return `${m.id} — route (${t.objective}: ${(t.candidates || []).join(', ')})`;
  const p = t.price_per_million;
  const price = p ? ` — $${p.input} / $${p.output} per M tokens` : '';
  return `${m.id}${price}${t.privacy ? ` · ${t.privacy}` : ''}`;
}

function modelSelect(pane, onChange) {
  const sel = h('select', { class: 'model-select', 'aria-label': 'Model or route' });
  const routes = models.filter((m) => (m.tandem || {}).kind === 'route');
  const direct = models.filter((m) => (m.tandem || {}).kind !== 'route');
  if (routes.length) sel.append(h('optgroup', { label: 'Routes (tandem picks the model)' }, routes.map((m) => h('option', { value: m.id }, modelLabel(m)))));
  if (direct.length) sel.append(h('optgroup', { label: 'Models' }, direct.map((m) => h('option', { value: m.id }, modelLabel(m)))));
  sel.value = pane.model;
  sel.addEventListener('change', () => { pane.model = sel.value; onChange(); });
  return sel;
}

function entityName(name) {
  return name.toLowerCase().replace(/_/g, ' ');
}

export function metaChips(meta, result) {
  const chips = [];
  const chip = (cls, label, ...value) => h('span', { class: 'chip ' + cls, title: label },
    h('span', { class: 'visually-hidden' }, label + ': '), h('span', { class: 'v' }, ...value));
  if (meta.model) {
    chips.push(chip('meta-model', 'Model', h('b', {}, meta.model), meta.route ? ` via ${meta.route}` : ''));
  }
  if (meta.reason) chips.push(chip('meta-reason', 'Why this model', 'why: ', meta.reason));
  if (result) {
    chips.push(chip('cost meta-cost', 'Cost', result.cost === null ? '—' : usd(result.cost)));
    const lat = ms(result.latency) + (result.ttft !== null ? ` · first token ${ms(result.ttft)}` : '');
    chips.push(chip('meta-latency', 'Latency', lat));
    if (result.usage) {
      chips.push(chip('meta-tokens', 'Tokens', `${int(result.usage.prompt_tokens)} in · ${int(result.usage.completion_tokens)} out`));
    }
  }
  if (meta.fallbacks) chips.push(chip('meta-fallback', 'Fallbacks', `${meta.fallbacks} fallback${meta.fallbacks > 1 ? 's' : ''}`));
  if (meta.privacy) {
    const verb = { redact: 'redacted', allow: 'found (allowed)', 'local-only': 'kept local', block: 'blocked' }[meta.privacyAction] || 'found';
    const what = Object.entries(meta.privacy).map(([k, n]) => `${n} ${entityName(k)}${n > 1 ? 's' : ''}`).join(', ');
    chips.push(chip('privacy meta-privacy', 'Privacy guard', `privacy: ${verb} ${what}`));
  } else if (meta.model) {
    chips.push(chip('meta-privacy-none', 'Privacy guard', 'no personal data found'));
  }
  return chips;
}

function renderMessage(msg) {
  const bubble = h('div', { class: 'bubble' + (msg.streaming ? ' streaming' : '') }, msg.content || (msg.streaming ? '' : ' '));
  const node = h('div', { class: `msg ${msg.role}${msg.error ? ' error' : ''}`, dataset: { role: msg.role } },
    h('span', { class: 'visually-hidden' }, msg.role === 'user' ? 'You said:' : 'Reply:'), bubble);
  if (msg.role === 'assistant') {
    const meta = h('div', { class: 'meta' }, msg.meta ? metaChips(msg.meta, msg.result) : null);
    node.append(meta);
    msg.refs = { node, bubble, meta };
  }
  return node;
}

export function render(root, ctx) {
  const cleanup = [];
  root.append(pageHead('Playground', 'Chat through tandem: pick a model or a route, and compare up to three side by side.'));
  const errorSlot = h('div', {});
  root.append(errorSlot);
  const body = h('div', { class: 'pg' }, h('p', { class: 'boot' }, 'Loading models…'));
  root.append(body);
  let panesEl; let sendBtn; let stopBtn; let promptField; let compareBtn;

  (async () => {
    try {
      if (!models) models = (await api('/v1/models')).data || [];
    } catch (e) {
      clear(body);
      body.append(notice(`Could not load the models: ${e.message}`, 'error'));
      return;
    }
    if (!models.length) {
      clear(body);
      body.append(notice('This key may not call any model or route.', 'warn'));
      return;
    }
    const ids = models.map((m) => m.id);
    const def = ids.includes('auto') ? 'auto' : ids[0];
    state.panes = state.panes.filter((p) => ids.includes(p.model));
    if (!state.panes.length) state.panes.push(paneState(def));
    build();
  })();


  function streaming() {
    return state.panes.some((p) => p.controller);
  }

  function syncButtons() {
    const busy = streaming();
    if (sendBtn) { sendBtn.hidden = busy; stopBtn.hidden = !busy; }
    if (compareBtn) compareBtn.disabled = state.panes.length >= MAX_PANES;
  }

  function build() {
    clear(body);
    compareBtn = h('button', { type: 'button', class: 'compare-btn', onclick: addPane }, '+ Compare with another model');
    const clearBtn = h('button', { type: 'button', class: 'ghost', onclick: () => {
      for (const p of state.panes) { if (p.controller) p.controller.abort(); p.messages = []; }
      drawPanes();
    } }, 'Clear conversation');
    const sys = h('textarea', { rows: 2, placeholder: 'Optional: instructions for the model', value: state.system, oninput: (e) => { state.system = e.target.value; } });
    const temp = h('input', { type: 'number', min: 0, max: 2, step: 0.1, inputmode: 'decimal', placeholder: 'default', value: state.temperature, oninput: (e) => { state.temperature = e.target.value; } });
    const maxTok = h('input', { type: 'number', min: 1, max: 131072, step: 1, inputmode: 'numeric', placeholder: 'default', value: state.maxTokens, oninput: (e) => { state.maxTokens = e.target.value; } });
    const sysField = field('System prompt', sys);
    const tempField = field('Temperature', temp, { help: '0 to 2' });
    const maxField = field('Max tokens', maxTok, { help: '1 to 131072' });
    const settings = h('details', { class: 'pg-settings panel' }, h('summary', {}, 'Settings: system prompt, temperature, max tokens'),
      sysField, h('div', { class: 'row' }, tempField, maxField));
    body.append(h('div', { class: 'pg-toolbar' }, compareBtn, clearBtn), settings);
    panesEl = h('div', { class: 'panes' });
    body.append(panesEl);

    const prompt = h('textarea', { id: 'prompt', rows: 2, placeholder: 'Ask something… (Enter to send, Shift+Enter for a new line)', value: state.draft });
    prompt.addEventListener('input', () => { state.draft = prompt.value; promptField.setError(null); });
    prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    });
    promptField = field('Message', prompt);
    promptField.classList.add('grow');
    sendBtn = h('button', { type: 'submit', class: 'primary send-btn' }, 'Send');
    stopBtn = h('button', { type: 'button', class: 'danger stop-btn', hidden: true, onclick: stop }, 'Stop');
    const form = h('form', { class: 'composer panel', novalidate: true, onsubmit: (e) => { e.preventDefault(); send(); } },
      h('div', { class: 'composer-field' }, promptField), sendBtn, stopBtn);
    body.append(form);
    body.fields = { tempField, maxField };
    drawPanes();
  }

  function addPane() {
    if (state.panes.length >= MAX_PANES) return;
    const used = new Set(state.panes.map((p) => p.model));
    const next = models.find((m) => !used.has(m.id)) || models[0];
    state.panes.push(paneState(next.id));
    drawPanes();
  }

  function drawPanes() {
    clear(panesEl);
    panesEl.className = `panes n${state.panes.length}`;
    state.panes.forEach((pane, i) => {
      const sel = modelSelect(pane, () => {});
      sel.id = `model-${i}`;
      const remove = state.panes.length > 1
        ? h('button', { type: 'button', class: 'ghost small', 'aria-label': `Remove pane ${i + 1}`, onclick: () => {
          if (pane.controller) pane.controller.abort();
          state.panes.splice(i, 1);
          drawPanes();
        } }, '✕')
        : null;
      const list = h('div', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': `Conversation ${i + 1}` });
      if (!pane.messages.length) list.append(h('p', { class: 'pane-empty' }, i === 0 && state.panes.length === 1 ? 'Send a message to start.' : 'Replies from this model appear here.'));
      for (const m of pane.messages) list.append(renderMessage(m));
      pane.list = list;
      panesEl.append(h('section', { class: 'pane panel', 'aria-label': `Chat pane ${i + 1}`, dataset: { pane: String(i) } },
        h('div', { class: 'pane-head' }, h('label', { for: sel.id }, state.panes.length > 1 ? `Model ${i + 1}` : 'Model'), sel, remove),
        list));
      list.scrollTop = list.scrollHeight;
    });
    syncButtons();
  }

  function validate(text) {
    let ok = true;
    const { tempField, maxField } = body.fields;
    tempField.setError(null); maxField.setError(null); promptField.setError(null);
    if (!text.trim()) { promptField.setError('Type a message first.'); ok = false; } else if (text.length > MAX_PROMPT) { promptField.setError(`Messages are limited to ${int(MAX_PROMPT)} characters.`); ok = false; }
    const t = state.temperature.trim();
    if (t && (!/^\d*\.?\d+$/.test(t) || Number(t) > 2)) { tempField.setError('Temperature must be a number from 0 to 2.'); ok = false; }
    const m = state.maxTokens.trim();
    if (m && (!/^\d+$/.test(m) || Number(m) < 1 || Number(m) > 131072)) { maxField.setError('Max tokens must be a whole number from 1 to 131072.'); ok = false; }
    if (!ok) {
      const settings = body.querySelector('details');
      if ((t || m) && settings && (tempField.control.getAttribute('aria-invalid') || maxField.control.getAttribute('aria-invalid'))) settings.open = true;
      const bad = body.querySelector('[aria-invalid=true]');
      if (bad) bad.focus();
    }
    return ok;
  }

  function send() {
    if (streaming()) return;
    const text = state.draft;
    if (!validate(text)) return;
    state.draft = '';
    document.getElementById('prompt').value = '';
    for (const pane of state.panes) runPane(pane, text.trim());
    syncButtons();
  }

  function stop() {
    for (const p of state.panes) if (p.controller) p.controller.abort();
  }

  async function runPane(pane, text) {
    const history = pane.messages.filter((m) => !m.error).map((m) => ({ role: m.role, content: m.content }));
    const user = { role: 'user', content: text };
    const reply = { role: 'assistant', content: '', streaming: true, meta: null, result: null };
    pane.messages.push(user, reply);
    const empty = pane.list.querySelector('.pane-empty');
    if (empty) empty.remove();
    pane.list.append(renderMessage(user), renderMessage(reply));
    pane.list.setAttribute('aria-busy', 'true');
    pane.list.scrollTop = pane.list.scrollHeight;
    const messages = [];
    if (state.system.trim()) messages.push({ role: 'system', content: state.system.trim() });
    messages.push(...history, user);
    const req = { model: pane.model, messages };
    if (state.temperature.trim()) req.temperature = Number(state.temperature);
    if (state.maxTokens.trim()) req.max_tokens = Number(state.maxTokens);
    pane.controller = new AbortController();
    syncButtons();
    const { bubble, meta: metaEl } = reply.refs;
    try {
      const result = await streamChat(req, {
        signal: pane.controller.signal,
        onMeta: (meta) => { reply.meta = meta; clear(metaEl).append(...metaChips(meta, null)); },
        onDelta: (_piece, all) => {
          reply.content = all;
          bubble.textContent = all;
          const l = pane.list;
          if (l.scrollHeight - l.scrollTop - l.clientHeight < 120) l.scrollTop = l.scrollHeight;
        },
      });
      reply.content = result.text;
      reply.result = result;
      reply.meta = result.meta;
      bubble.textContent = result.text || '(empty reply)';
      clear(metaEl).append(...metaChips(result.meta, result));
      reply.refs.node.dataset.done = 'true';
    } catch (e) {
      if (e.name === 'AbortError') {
        reply.error = !reply.content;
        if (!reply.content) reply.content = '(stopped)';
        metaEl.append(h('span', { class: 'chip meta-stopped' }, 'stopped'));
      } else {
        reply.error = true;
        reply.content = e.status === 401 ? `${e.message} Sign in again with a valid key.` : e.message;
        reply.refs.node.classList.add('error');
      }
      bubble.textContent = reply.content;
      reply.refs.node.dataset.done = 'error';
    } finally {
      reply.streaming = false;
      bubble.classList.remove('streaming');
      pane.controller = null;
      pane.list.setAttribute('aria-busy', 'false');
      syncButtons();
    }
  }

  cleanup.push(() => stop());
  return () => cleanup.forEach((f) => f());
}

export function resetModels() {
  models = null;
  state.panes = [];
}
