// The API on the page's own origin (the edge forwards /v1 to it). JSON in and out; problem documents
// (application/problem+json) become ApiError; a 401 refreshes the access token once and retries.
import * as session from './session.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status; this.problem = problem || {};
  }
}

let refreshing = null;

export async function refresh() {
  const rt = session.refreshToken();
  if (!rt) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch('/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: rt }) });
      if (!r.ok) { if (r.status === 401 || r.status === 400) session.clear(); return false; }
      session.save(await r.json());  // rotation: the old refresh token is void now
      return true;
    } catch { return false; } finally { refreshing = null; }
  })();
  return refreshing;
}

export async function ensureAccess() {
  if (session.accessToken() || !session.refreshToken()) return !!session.accessToken();
  return refresh();
}

export async function request(method, path, body, { auth = true, retry = true, keepalive = false } = {}) {
  if (auth) await ensureAccess();
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = session.accessToken();
  if (auth && token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(path, { method, headers, keepalive, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && auth && retry && session.refreshToken() && await refresh()) {
    return request(method, path, body, { auth, retry: false, keepalive });
  }
  if (r.status === 204) return null;
  const type = r.headers.get('content-type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, typeof data === 'object' ? data : { detail: data });
  return data;
}

export const get = (p, o) => request('GET', p, undefined, o);
export const post = (p, b = {}, o) => request('POST', p, b, o);
export const patch = (p, b, o) => request('PATCH', p, b, o);
export const del = (p, o) => request('DELETE', p, undefined, o);
export const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
