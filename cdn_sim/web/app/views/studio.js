// Creator studio: my videos with their state (and why a failed one failed); a video's analytics as charts.
import { h, fmt } from '../lib/dom.js';
import { get, ApiError } from '../lib/api.js';
import * as session from '../lib/session.js';
import { barChart, lineChart, donut, last48 } from '../lib/charts.js';

export async function render(root, params) {
  if (!session.user()) { root.append(h('p', { class: 'page' }, h('a', { href: '/app/login' }, 'Log in'), ' to see your studio.')); return; }
  const page = h('div', { class: 'page' });
  root.append(page);
  if (params.id) return analytics(page, params.id);
  page.append(h('h1', {}, 'Studio'));
  try {
    const { items } = await get('/v1/me/videos');
    if (!items.length) page.append(h('p', { class: 'muted' }, 'No videos yet. ', h('a', { href: '/app/upload' }, 'Upload one')));
    page.append(h('ul', { class: 'list', 'aria-label': 'My videos' }, items.map((v) => h('li', { 'data-video-id': v.id },
      h('a', { href: `/app/studio/${v.id}` }, v.caption || '(no caption)'),
      h('span', { class: `state ${v.state}` }, v.state),
      h('div', { class: 'muted' }, `${fmt(v.stats.views)} views · ${fmt(v.stats.likes)} likes · ${new Date(v.created_at).toLocaleString()}`),
      v.failure ? h('div', { class: 'error' }, `${v.failure.code}: ${v.failure.reason}`) : null,
      v.moderation && v.moderation.status !== 'clear' ? h('div', { class: 'error' }, `moderation: ${v.moderation.status}${v.moderation.reason ? ` (${v.moderation.reason})` : ''}`) : null))));
  } catch (e) { page.append(h('p', { class: 'error' }, e instanceof ApiError ? e.message : 'Could not load')); }
}

async function analytics(page, id) {
  page.append(h('p', {}, h('a', { href: '/app/studio' }, '← Studio')));
  let a, v;
  try { [a, v] = await Promise.all([get(`/v1/videos/${id}/analytics`), get(`/v1/videos/${id}`)]); } catch (e) {
    page.append(h('p', { class: 'error' }, e.message)); return;
  }
  page.append(h('h1', {}, v.caption || 'Analytics'));
  const kpi = (label, value) => h('div', {}, h('b', {}, value), h('span', { class: 'muted' }, label));
  page.append(h('div', { class: 'kpis' }, kpi('views', fmt(a.views)), kpi('likes', fmt(a.likes)), kpi('comments', fmt(a.comments)),
    kpi('shares', fmt(a.shares)), kpi('avg watch', `${(a.average_watch_ms / 1000).toFixed(1)} s`),
    kpi('watch time', `${(a.watch_ms_total / 60000).toFixed(1)} min`)));
  const slots = last48(a.hourly);
  const labels = slots.map((s, i) => [i, s.hour]).filter(([i]) => i % 12 === 0 || i === 47)
    .map(([i, t]) => [i, i === 47 ? 'now' : `${t.getHours().toString().padStart(2, '0')}h`]);
  const figure = (title, svg) => h('figure', { class: 'chart' }, h('figcaption', {}, title), svg);
  page.append(h('div', { class: 'charts', id: 'charts' },
    figure('Views per hour, last 48 h', barChart('Views per hour over the last 48 hours', slots.map((s) => s.views), { labels })),
    figure('Watch time per hour (minutes)', barChart('Watch time per hour in minutes over the last 48 hours',
      slots.map((s) => s.watch_ms / 60000), { labels, cls: 'bar2', yFmt: (x) => x.toFixed(x < 10 ? 1 : 0) })),
    figure(`Completion rate (${a.completions} of ${a.views} views)`, donut('Completion rate', a.views ? Math.min(1, a.completion_rate) : 0)),
    figure(`Retention (${a.retention_views ?? 0} views): still watching at each 10 %`, lineChart('Retention curve',
      a.retention?.length ? a.retention : Array(11).fill(0), { xLabels: [[0, '0 %'], [5, '50 %'], [10, '100 %']] }))));
}
