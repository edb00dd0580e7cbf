// Tokens: the access token only in memory (a script injected later cannot find it in storage); the refresh
// token in localStorage so a reload stays signed in (acceptable here; docs/web.md says what it costs).
const KEY = 'reelflow.session';
const DEV_KEY = 'reelflow.dev-access';
let access = null;
const listeners = new Set();

export function user() {
  try { return JSON.parse(localStorage.getItem(KEY)) || null; } catch { return null; }
}
export function accessToken() {
  // Development tokens come without a refresh token: kept for this tab only, so a reload stays signed in.
  return access || (user()?.dev ? sessionStorage.getItem(DEV_KEY) : null);
}
export function refreshToken() { return user()?.refresh_token || null; }

export function save(tokens) {
  // tokens: {user_id, handle, access_token, refresh_token?} from login, signup, refresh or dev-token.
  access = tokens.access_token;
  if (tokens.dev) sessionStorage.setItem(DEV_KEY, access);
  const prev = user() || {};
  localStorage.setItem(KEY, JSON.stringify({
    user_id: tokens.user_id ?? prev.user_id, handle: tokens.handle ?? prev.handle,
    refresh_token: tokens.refresh_token ?? null, dev: !!tokens.dev,
  }));
  listeners.forEach((f) => f(user()));
}

export function clear() {
  access = null;
  localStorage.removeItem(KEY);
  sessionStorage.removeItem(DEV_KEY);
  listeners.forEach((f) => f(null));
}

export function onChange(f) { listeners.add(f); return () => listeners.delete(f); }
