// Inline SVG charts drawn here (no charting library): bars over time and a line with its area.
const NS = 'http://www.w3.org/2000/svg';
const W = 320, H = 160, PAD = { l: 34, r: 8, t: 10, b: 22 };

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function frame(title, yMax, yFmt) {
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  svg.append(el('title', {}, title));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  for (const f of [0, 0.5, 1]) {
    const y = PAD.t + ih * (1 - f);
    svg.append(el('line', { class: 'axis', x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, 'stroke-dasharray': f ? '2 3' : '' }));
    svg.append(el('text', { x: PAD.l - 4, y: y + 3, 'text-anchor': 'end' }, yFmt(yMax * f)));
  }
  return { svg, iw, ih };
}

// values: numbers, one per slot; labels: [index, text] pairs under the x axis.
export function barChart(title, values, { labels = [], yFmt = (v) => String(Math.round(v)), cls = 'bar' } = {}) {
  const yMax = Math.max(1, ...values);
  const { svg, iw, ih } = frame(title, yMax, yFmt);
  const bw = iw / Math.max(1, values.length);
  values.forEach((v, i) => {
    const bh = (v / yMax) * ih;
    const r = el('rect', { class: cls, x: PAD.l + i * bw + bw * 0.1, y: PAD.t + ih - bh, width: Math.max(1, bw * 0.8), height: bh });
    r.append(el('title', {}, yFmt(v)));
    svg.append(r);
  });
  for (const [i, text] of labels) svg.append(el('text', { x: PAD.l + (i + 0.5) * bw, y: H - 6, 'text-anchor': 'middle' }, text));
  return svg;
}

// points: y values at evenly spaced x from 0 to 1 (the retention curve: share at 0 %, 10 %, ... 100 %).
export function lineChart(title, points, { yMax = 1, yFmt = (v) => `${Math.round(v * 100)} %`, xLabels = [] } = {}) {
  const { svg, iw, ih } = frame(title, yMax, yFmt);
  const xy = points.map((p, i) => [PAD.l + (iw * i) / Math.max(1, points.length - 1), PAD.t + ih * (1 - p / yMax)]);
  if (xy.length) {
    const d = xy.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
    svg.append(el('path', { class: 'area', d: `${d} L${xy.at(-1)[0]},${PAD.t + ih} L${xy[0][0]},${PAD.t + ih} Z` }));
    svg.append(el('path', { class: 'line', d }));
    xy.forEach(([x, y], i) => { const c = el('circle', { cx: x, cy: y, r: 2.5, fill: '#5fb3ff' }); c.append(el('title', {}, yFmt(points[i]))); svg.append(c); });
  }
  const last = Math.max(1, points.length - 1);
  for (const [i, text] of xLabels) svg.append(el('text', { x: PAD.l + (iw * i) / last, y: H - 6, 'text-anchor': i === last ? 'end' : i === 0 ? 'start' : 'middle' }, text));
  return svg;
}

// A ring for one share (completion rate).
export function donut(title, share) {
  const svg = el('svg', { viewBox: '0 0 160 160', role: 'img', 'aria-label': `${title}: ${Math.round(share * 100)} %` });
  svg.append(el('title', {}, title));
  const r = 60, c = 2 * Math.PI * r;
  svg.append(el('circle', { cx: 80, cy: 80, r, fill: 'none', stroke: '#2a2a35', 'stroke-width': 16 }));
  svg.append(el('circle', { cx: 80, cy: 80, r, fill: 'none', stroke: '#ff3b6b', 'stroke-width': 16,
    'stroke-dasharray': `${(c * Math.min(1, share)).toFixed(1)} ${c.toFixed(1)}`, transform: 'rotate(-90 80 80)' }));
  svg.append(el('text', { x: 80, y: 88, 'text-anchor': 'middle', style: 'font-size:26px;fill:#f4f4f6' }, `${Math.round(share * 100)} %`));
  return svg;
}

// The last 48 clock hours, oldest first, from the API's sparse hourly rows.
export function last48(hourly, now = new Date()) {
  const start = new Date(now); start.setUTCMinutes(0, 0, 0); start.setUTCHours(start.getUTCHours() - 47);
  const slots = Array.from({ length: 48 }, (_, i) => ({ hour: new Date(start.getTime() + i * 3600e3), views: 0, watch_ms: 0, completions: 0 }));
  for (const row of hourly) {
    const i = Math.round((new Date(row.hour) - start) / 3600e3);
    if (i >= 0 && i < 48) Object.assign(slots[i], { views: row.views, watch_ms: row.watch_ms, completions: row.completions });
  }
  return slots;
}
