// The app's entry: routes, the account link and the unread badge.
import { route, start, navigate } from './lib/router.js';
import * as session from './lib/session.js';
import * as notifications from './lib/notifications.js';
import { ensureAccess } from './lib/api.js';

const pages = () => import('./views/pages.js');
route('/', async () => (await pages()).forYou);
route('/app', async () => (await pages()).forYou);
route('/app/following', async () => (await pages()).following);
route('/app/trending', async () => (await pages()).trending);
route('/app/tag/:tag', async () => (await pages()).tag);
route('/app/sound/:id', async () => (await pages()).sound);
route('/app/v/:id', async () => (await pages()).video);
route('/app/search', () => import('./views/search.js'));
route('/app/upload', () => import('./views/upload.js'));
route('/app/studio', () => import('./views/studio.js'));
route('/app/studio/:id', () => import('./views/studio.js'));
route('/app/inbox', () => import('./views/inbox.js'));
route('/app/login', async () => ({ render: (await import('./views/login.js')).authView('login') }));
route('/app/signup', async () => ({ render: (await import('./views/login.js')).authView('signup') }));
route('/app/logout', async () => ({ render: async () => { await (await import('./views/login.js')).logout(); } }));

function account(u) {
  const a = document.getElementById('account');
  if (u) { a.textContent = `Log out @${u.handle || ''}`; a.href = '/app/logout'; } else { a.textContent = 'Log in'; a.href = '/app/login'; }
}

session.onChange((u) => { account(u); notifications.start(); });
account(session.user());
await ensureAccess();  // a reload: a new access token from the stored refresh token
if (session.user() && !session.accessToken()) session.clear();  // the refresh token was refused or is gone
notifications.start();
start();
window.reelflow = Object.assign(window.reelflow || {}, { navigate });
