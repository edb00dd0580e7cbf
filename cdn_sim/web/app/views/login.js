// Log in, sign up (the accounts API) and, on development stacks, a handle-only developer sign-in.
import { h } from '../lib/dom.js';
import { post, ApiError } from '../lib/api.js';
import * as session from '../lib/session.js';
import { navigate } from '../lib/router.js';

function field(label, attrs) { return h('label', {}, label, h('input', attrs)); }

export function authView(mode) {
  return async (root) => {
    const signup = mode === 'signup';
    const error = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'stack', 'aria-label': signup ? 'Sign up' : 'Log in', onsubmit: async (e) => {
      e.preventDefault(); error.textContent = '';
      const data = Object.fromEntries(new FormData(form));
      if (!data.display_name) delete data.display_name;
      try {
        const tokens = await post(signup ? '/v1/auth/signup' : '/v1/auth/login', data, { auth: false });
        session.save(tokens);
        navigate('/');
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 404 ? 'Accounts are not available on this server yet.' : err.message;
      }
    } },
    field('Handle', { name: 'handle', required: true, autocomplete: 'username', pattern: '[A-Za-z0-9_.]{2,30}' }),
    signup ? field('Display name', { name: 'display_name', autocomplete: 'nickname' }) : null,
    field('Password', { name: 'password', type: 'password', required: true, minlength: 8,
                        autocomplete: signup ? 'new-password' : 'current-password' }),
    h('button', { class: 'primary', type: 'submit' }, signup ? 'Create account' : 'Log in'), error);
    const dev = h('form', { class: 'stack', 'aria-label': 'Developer sign-in', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const handle = new FormData(dev).get('handle');
        const t = await post('/v1/auth/dev-token', { handle }, { auth: false });
        session.save({ ...t, handle, dev: true });
        navigate('/');
      } catch (err) { error.textContent = err.message; }
    } }, field('Handle (development stacks only, no password)', { name: 'handle', required: true }),
    h('button', { type: 'submit' }, 'Developer sign-in'));
    root.append(h('div', { class: 'page' },
      h('h1', {}, signup ? 'Sign up' : 'Log in'), form,
      h('p', {}, signup ? h('a', { href: '/app/login' }, 'I have an account') : h('a', { href: '/app/signup' }, 'Create an account')),
      h('details', {}, h('summary', { class: 'muted' }, 'Developer sign-in'), dev)));
  };
}

export async function logout() {
  const rt = session.refreshToken();
  if (rt) { try { await post('/v1/auth/logout', { refresh_token: rt }); } catch { /* gone already */ } }
  session.clear();
  navigate('/app/login');
}
