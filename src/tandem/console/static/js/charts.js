// Inline SVG charts: time series as stacked bars or an area line, and a
// scatter plot. Each chart has an accessible name and a per-point <title>
// (native tooltip); colours come from CSS variables so dark mode works.

import { h, s } from './ui.js';

let W = 640;
const H = 210;
const M = { top: 12, right: 12, bottom: 26, left: 56 };

export const PALETTE = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'];

function niceStep(max, ticks = 4) {
  if (max <= 0) return 1;
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return step * mag;
}

function yAxis(maxValue, fmt) {
  const step = niceStep(maxValue);
  const top = Math.max(step, Math.ceil(maxValue / step) * step);
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { top, ticks, fmt };
}

function frame(label) {
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' },
    s('title', {}, label));
}

function drawAxes(svg, axis, data, xFmt, x) {
  const g = s('g', { class: 'axis' });
  const ih = H - M.top - M.bottom;
  for (const v of axis.ticks) {
    const y = M.top + ih - (v / axis.top) * ih;
    g.append(s('line', { class: 'grid-line', x1: M.left, x2: W - M.right, y1: y, y2: y }));
    g.append(s('text', { x: M.left - 8, y: y + 4, 'text-anchor': 'end' }, axis.fmt(v)));
  }
  const n = data.length;
  const every = Math.max(1, Math.ceil(n / Math.max(3, Math.floor(W / 110))));
  data.forEach((d, i) => {
    if (i % every !== 0) return;
    g.append(s('text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, xFmt(d.t)));
  });
  svg.append(g);
}

/**
 * Stacked bars over time.
 * series: [{key, name, color}] where color is a palette name or 'err'.
 */
export function barChart({ data, series, label, xFmt, yFmt, tipFmt, width = 640 }) {
  W = Math.max(320, Math.round(width));
  const svg = frame(label);
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const n = Math.max(1, data.length);
  const slot = iw / n;
  const bw = Math.max(1, Math.min(28, slot * 0.72));
  const x = (i) => M.left + slot * i + slot / 2;
  const max = Math.max(0, ...data.map((d) => series.reduce((a, se) => a + (d[se.key] || 0), 0)));
  const axis = yAxis(max, yFmt);
  drawAxes(svg, axis, data, xFmt, x);
  const bars = s('g', {});
  data.forEach((d, i) => {
    let acc = 0;
    for (const se of series) {
      const v = d[se.key] || 0;
      if (v <= 0) continue;
      const y0 = M.top + ih - (acc / axis.top) * ih;
      acc += v;
      const y1 = M.top + ih - (acc / axis.top) * ih;
      bars.append(s('rect', {
        x: x(i) - bw / 2, y: y1, width: bw, height: Math.max(0.5, y0 - y1), rx: Math.min(3, bw / 4),
        fill: `var(--${se.color === 'err' ? 'danger' : se.color})`,
      }));
    }
    bars.append(s('rect', { class: 'hover', x: x(i) - slot / 2, y: M.top, width: slot, height: ih, fill: 'transparent' },
      s('title', {}, tipFmt(d))));
  });
  svg.append(bars);
  return h('div', { class: 'chart' }, svg, legend(series));
}

/** A filled line over time for one series. */
export function areaChart({ data, key, label, xFmt, yFmt, tipFmt, color = 'c4', width = 640 }) {
  W = Math.max(320, Math.round(width));
  const svg = frame(label);
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const n = data.length;
  const x = (i) => M.left + (n <= 1 ? iw / 2 : (iw * i) / (n - 1));
  const max = Math.max(0, ...data.map((d) => d[key] || 0));
  const axis = yAxis(max, yFmt);
  drawAxes(svg, axis, data, xFmt, x);
  const y = (v) => M.top + ih - ((v || 0) / axis.top) * ih;
  if (n > 0) {
    const pts = data.map((d, i) => `${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`);
    const base = M.top + ih;
    svg.append(s('path', {
      d: `M${x(0).toFixed(1)},${base} L${pts.join(' L')} L${x(n - 1).toFixed(1)},${base} Z`,
      fill: `var(--${color})`, 'fill-opacity': '0.14',
    }));
    svg.append(s('path', { d: `M${pts.join(' L')}`, fill: 'none', stroke: `var(--${color})`, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
    const slot = iw / Math.max(1, n - 1);
    data.forEach((d, i) => {
      if (d[key] > 0) svg.append(s('circle', { cx: x(i), cy: y(d[key]), r: 2.5, fill: `var(--${color})` }));
      svg.append(s('rect', { class: 'hover', x: x(i) - slot / 2, y: M.top, width: slot, height: ih, fill: 'transparent' },
        s('title', {}, tipFmt(d))));
    });
  }
  return h('div', { class: 'chart' }, svg);
}

/** Points with x and y, one colour per point, labelled. */
export function scatterChart({ points: raw, label, xLabel, yLabel, xFmt, yFmt, width = 640 }) {
  W = Math.max(320, Math.round(width));
  // Points at the same spot share one dot and one label.
  const byPos = new Map();
  for (const p of raw) {
    const k = `${p.x.toPrecision(6)}|${p.y.toPrecision(6)}`;
    if (byPos.has(k)) byPos.get(k).label += ', ' + p.label;
    else byPos.set(k, { ...p });
  }
  const points = [...byPos.values()];
  const svg = frame(label);
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom - 10;
  const xmax = Math.max(...points.map((p) => p.x), 0) * 1.1 || 1;
  const ymax = Math.max(...points.map((p) => p.y), 0) * 1.1 || 1;
  const xa = yAxis(xmax, xFmt);
  const ya = yAxis(ymax, yFmt);
  const X = (v) => M.left + (v / xa.top) * iw;
  const Y = (v) => M.top + ih - (v / ya.top) * ih;
  const g = s('g', { class: 'axis' });
  for (const v of ya.ticks) {
    g.append(s('line', { class: 'grid-line', x1: M.left, x2: W - M.right, y1: Y(v), y2: Y(v) }));
    g.append(s('text', { x: M.left - 8, y: Y(v) + 4, 'text-anchor': 'end' }, yFmt(v)));
  }
  for (const v of xa.ticks) g.append(s('text', { x: X(v), y: M.top + ih + 16, 'text-anchor': 'middle' }, xFmt(v)));
  g.append(s('text', { x: M.left + iw / 2, y: H - 2, 'text-anchor': 'middle' }, xLabel));
  g.append(s('text', { x: 12, y: M.top + ih / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${M.top + ih / 2})` }, yLabel));
  svg.append(g);
  points.forEach((p, i) => {
    const c = PALETTE[i % PALETTE.length];
    svg.append(s('circle', { cx: X(p.x), cy: Y(p.y), r: 6, fill: `var(--${c})`, 'fill-opacity': 0.85 },
      s('title', {}, `${p.label}: ${xLabel} ${xFmt(p.x)}, ${yLabel} ${yFmt(p.y)}`)));
    svg.append(s('text', { x: X(p.x) + 9, y: Y(p.y) + 4, class: 'axis', fill: 'var(--text)', 'font-size': 11 }, p.label));
  });
  return h('div', { class: 'chart' }, svg);
}

export function legend(series) {
  return h('div', { class: 'legend', 'aria-hidden': 'true' },
    series.map((se) => h('span', {}, h('span', { class: 'sw sw-' + se.color }), se.name)));
}

/** A horizontal stacked share bar with a legend (routing mix). */
export function shareBar(parts, label) {
  const total = parts.reduce((a, p) => a + p.value, 0) || 1;
  const bar = h('div', { class: 'stack', role: 'img', 'aria-label': label });
  parts.forEach((p, i) => {
    const seg = h('span', { class: 'fill-' + PALETTE[i % PALETTE.length], title: `${p.name}: ${p.tip}` });
    seg.style.width = ((p.value / total) * 100).toFixed(2) + '%';
    bar.append(seg);
  });
  return bar;
}
