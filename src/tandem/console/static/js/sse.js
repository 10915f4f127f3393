// Streams one chat completion from /v1/chat/completions (fetch +
// ReadableStream, Server-Sent Events parsed by hand) and reports what
// tandem says about it: the model and route from the response headers, the
// cost from the closing ": tandem {...}" comment, usage from the last chunk.

import { authHeaders, errorFrom, ApiError } from './api.js';

export function parsePrivacy(header) {
  if (!header) return null;
  const counts = {};
  for (const part of header.split(',')) {
    const [name, n] = part.split(':');
    if (name && n && !Number.isNaN(Number(n))) counts[name.trim()] = Number(n);
  }
  return Object.keys(counts).length ? counts : null;
}

// Split a text buffer into complete SSE events; returns [events, rest].
export function splitEvents(buffer) {
  const norm = buffer.replace(/\r\n?/g, '\n');
  const parts = norm.split('\n\n');
  const rest = parts.pop();
  return [parts, rest];
}

/**
 * Stream a chat reply.
 * @param {object} body the request body (model, messages, ...); stream is forced on.
 * @param {object} hooks onMeta(meta), onDelta(text), onUsage(usage), signal
 * @returns {Promise<object>} the final result {text, meta, usage, cost, ttft, latency}
 */
export async function streamChat(body, { onMeta, onDelta, signal } = {}) {
  const started = performance.now();
  let res;
  try {
    res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...authHeaders() },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      signal, cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Cannot reach the tandem server. Is it still running?');
  }
  if (!res.ok) throw await errorFrom(res);
  const headers = res.headers;
  const meta = {
    model: headers.get('x-tandem-model'),
    provider: headers.get('x-tandem-provider'),
    route: headers.get('x-tandem-route'),
    reason: headers.get('x-tandem-route-reason'),
    privacy: parsePrivacy(headers.get('x-tandem-privacy')),
    privacyAction: headers.get('x-tandem-privacy-action'),
    fallbacks: Number(headers.get('x-tandem-fallbacks') || 0),
    retries: Number(headers.get('x-tandem-retries') || 0),
    requestId: headers.get('x-request-id'),
  };
  if (onMeta) onMeta(meta);
  const result = { text: '', meta, usage: null, cost: null, ttft: null, latency: null, done: false };
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const handle = (event) => {
    let data = '';
    for (const line of event.split('\n')) {
      if (line.startsWith(':')) {
        const comment = line.slice(1).trim();
        if (comment.startsWith('tandem ')) {
          try {
            const info = JSON.parse(comment.slice(7));
            result.cost = typeof info.cost_usd === 'number' ? info.cost_usd : result.cost;
            if (info.model) meta.model = info.model;
            if (info.provider) meta.provider = info.provider;
          } catch { /* ignore a malformed comment */ }
        }
      } else if (line.startsWith('data:')) {
        data += (data ? '\n' : '') + line.slice(5).replace(/^ /, '');
      }
    }
    if (!data) return;
    if (data === '[DONE]') { result.done = true; return; }
    let chunk;
    try { chunk = JSON.parse(data); } catch { return; }
    if (chunk.error) throw new ApiError(502, chunk.error.message || 'The stream failed.', chunk);
    if (chunk.usage) result.usage = chunk.usage;
    for (const choice of chunk.choices || []) {
      const piece = choice.delta && typeof choice.delta.content === 'string' ? choice.delta.content : '';
      if (piece) {
        if (result.ttft === null) result.ttft = (performance.now() - started) / 1000;
        result.text += piece;
        if (onDelta) onDelta(piece, result.text);
      }
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const [events, rest] = splitEvents(buffer);
    buffer = rest;
    for (const ev of events) handle(ev);
  }
  buffer += decoder.decode();
  if (buffer.trim()) for (const ev of splitEvents(buffer + '\n\n')[0]) handle(ev);
  result.latency = (performance.now() - started) / 1000;
  if (!result.done) throw new ApiError(502, 'The stream ended before it was complete.');
  return result;
}
