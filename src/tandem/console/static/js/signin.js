// Sign-in with an API key. The key is checked against /console/api/session
// before it is kept (in sessionStorage, for this tab only).

import { api, auth } from './api.js';
import { h, field, notice } from './ui.js';

export function checkKeyInput(value) {
  if (!value) return 'Enter your API key.';
  if (/\s/.test(value)) return 'An API key has no spaces or line breaks.';
  if (value.length > 512) return 'That is too long to be an API key.';
  return null;
}

export function render(root, ctx) {
  const offMode = ctx.session && ctx.session.auth_mode === 'off';
  const wrap = h('div', { class: 'signin' });
  const card = h('div', { class: 'panel' });
  wrap.append(card);
  root.append(wrap);
  card.append(h('h1', { tabindex: '-1', class: 'view-title' }, 'Sign in'));
  card.append(h('p', { class: 'lead' }, offMode
    ? 'Auth is off on this server, so the playground and dashboard work without a key. Sign in with the admin key to manage keys and see every key\u2019s usage.'
    : 'Use an API key from your tandem admin. You see your own usage; the admin key also manages keys.'));
  if (ctx.message) card.append(notice(ctx.message, 'error'));
  const input = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'tk-…' });
  const toggle = h('button', { type: 'button', class: 'small ghost', 'aria-controls': 'api-key', 'aria-pressed': 'false', onclick: () => {
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    toggle.textContent = show ? 'Hide' : 'Show';
    toggle.setAttribute('aria-pressed', String(show));
  } }, 'Show');
  const keyField = field('API key', input, { help: 'Kept in this browser tab only, and sent only to this server.' });
  const row = h('div', { class: 'input-row' });
  keyField.insertBefore(row, input);
  row.append(input, toggle);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { novalidate: true, id: 'signin-form' }, keyField, submit);
  card.append(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    const err = checkKeyInput(value);
    keyField.setError(err);
    if (err) { input.focus(); return; }
    submit.disabled = true;
    submit.textContent = 'Checking…';
    try {
      await api('/console/api/session', { token: value });
      auth.set(value);
      ctx.signedIn();
    } catch (ex) {
      keyField.setError(ex.status === 401 ? `This key was refused: ${ex.message}` : ex.message);
      input.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  if (offMode) {
    card.append(h('div', { class: 'divider' }, 'or'),
      h('a', { class: 'btn', href: '#/playground' }, 'Continue without a key'));
  }
  setTimeout(() => input.focus(), 0);
  return null;
}
