// The console's one door to the server: JSON calls with the signed-in key.
// The key lives in sessionStorage (gone when the tab closes) and is sent
// only as an Authorization header to this same origin.

const STORAGE_KEY = 'tandem.console.key';

export const auth = {
  get token() {
    try { return sessionStorage.getItem(STORAGE_KEY); } catch { return null; }
  },
  set(token) { sessionStorage.setItem(STORAGE_KEY, token); },
  clear() { sessionStorage.removeItem(STORAGE_KEY); },
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
    this.param = body && body.error ? body.error.param : null;
  }
}

export function authHeaders(token = auth.token) {
  return token ? { Authorization: 'Bearer ' + token } : {};
}

export async function errorFrom(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const message = (body && body.error && body.error.message) || `The server answered ${res.status} ${res.statusText}.`;
  return new ApiError(res.status, message, body);
}

export async function api(path, { method = 'GET', body, signal, token } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(token === undefined ? auth.token : token) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Cannot reach the tandem server. Is it still running?');
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && auth.token && token === undefined) {
      window.dispatchEvent(new CustomEvent('tandem:unauthorized', { detail: err.message }));
    }
    throw err;
  }
  if (res.status === 204) return null;
  return res.json();
}
