// The console's shell: session, navigation (hash routes) and the header.

import { api, auth } from './api.js';
import { h, clear, notice } from './ui.js';
import * as playground from './playground.js';
import * as dashboard from './dashboard.js';
import * as bench from './bench.js';
import * as keys from './keys.js';
import * as signin from './signin.js';

const VIEWS = { playground, dashboard, bench, keys, signin };
const TITLES = { playground: 'Playground', dashboard: 'Dashboard', bench: 'Bench', keys: 'Keys', signin: 'Sign in' };

let session = null;
let cleanup = null;
let pendingMessage = null;
let firstRender = true;

function parseHash() {
  const parts = (location.hash || '').replace(/^#\/?/, '').split('/');
  const name = VIEWS[parts[0]] ? parts[0] : 'playground';
  const param = parts[1] ? decodeURIComponent(parts.slice(1).join('/')) : null;
  return { name, param };
}

function drawIdentity() {
  const box = document.getElementById('identity');
  clear(box);
  const nav = document.getElementById('nav');
  nav.hidden = !session;
  document.getElementById('nav-keys').hidden = !(session && session.viewer.role === 'admin');
  if (!session) return;
  const v = session.viewer;
  if (v.role === 'admin') box.append(h('span', { class: 'chip admin', title: 'Signed in with the admin key' }, 'Admin'));
  else if (v.role === 'key') box.append(h('span', { class: 'chip', title: 'Signed in with this key' }, v.name, v.prefix ? h('span', { class: 'mono hint' }, ` ${v.prefix}…`) : null));
  else box.append(h('span', { class: 'chip local', title: 'Auth is off on this server' }, 'Local · auth off'));
  if (auth.token) {
    box.append(h('button', { type: 'button', class: 'small', id: 'sign-out', onclick: signOut }, 'Sign out'));
  } else {
    box.append(h('a', { class: 'btn small', href: '#/signin', id: 'sign-in' }, 'Sign in'));
  }
}

function signOut() {
  auth.clear();
  playground.resetModels();
  session = null;
  location.hash = '#/signin';
  boot();
}

async function loadSession() {
  const token = auth.token;
  if (token) {
    try {
      return await api('/console/api/session', { token });
    } catch (e) {
      if (e.status !== 401) throw e;
      auth.clear();
      pendingMessage = `Your key was refused: ${e.message}`;
    }
  }
  try {
    return await api('/console/api/session', { token: null });
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

async function boot() {
  try {
    session = await loadSession();
  } catch (e) {
    const main = document.getElementById('main');
    clear(main).append(notice(`The console cannot reach the server: ${e.message}`, 'error'),
      h('button', { type: 'button', onclick: () => boot() }, 'Try again'));
    return;
  }
  drawIdentity();
  render();
}

function render() {
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  const main = document.getElementById('main');
  clear(main);
  let { name, param } = parseHash();
  if (!session || (name === 'signin')) name = 'signin';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[name]} · tandem console`;
  const ctx = {
    session, param,
    message: pendingMessage,
    signedIn: () => { playground.resetModels(); pendingMessage = null; if (parseHash().name === 'signin') location.hash = '#/playground'; boot(); },
  };
  if (name !== 'signin') pendingMessage = null;
  const view = h('div', { class: 'view', dataset: { view: name } });
  main.append(view);
  cleanup = VIEWS[name].render(view, ctx) || null;
  if (!firstRender || name === 'signin') {
    const title = view.querySelector('.view-title');
    if (title && name !== 'signin') title.focus({ preventScroll: true });
  }
  firstRender = false;
}

window.addEventListener('hashchange', () => render());
window.addEventListener('tandem:unauthorized', (e) => {
  auth.clear();
  playground.resetModels();
  pendingMessage = `Your key is no longer accepted: ${e.detail}`;
  session = null;
  if (parseHash().name !== 'signin') location.hash = '#/signin';
  boot();
});

boot();
