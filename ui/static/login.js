// Sign-in page: email and password for a session cookie.
import { api, el, message, landing } from './app.js';

const root = document.getElementById('root');
const next = new URLSearchParams(location.search).get('next');
// Only a local path, so the page cannot be used to send people elsewhere;
// without one, the role decides (landing).
const target = next && next.startsWith('/') && !next.startsWith('//') ? next : '';

const email = el('input', { type: 'email', name: 'email', id: 'email', autocomplete: 'username', required: true });
const password = el('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
const status = el('div');
const form = el('form', { class: 'card login', onsubmit: async (ev) => {
  ev.preventDefault();
  status.replaceChildren();
  try {
    await api('POST', '/api/auth/login', { email: email.value, password: password.value }, { redirectOn401: false });
    location.assign(target || await landing());
  } catch (e) {
    status.replaceChildren(message('error', e.message, { id: 'login-error' }));
  }
} },
el('h1', {}, 'Sign in to blobmark'),
el('label', { class: 'field' }, el('span', {}, 'Email'), email),
el('label', { class: 'field' }, el('span', {}, 'Password'), password),
status,
el('button', { class: 'primary', type: 'submit', id: 'sign-in' }, 'Sign in'),
el('p', { class: 'hint' }, 'Create a user with ', el('code', {}, 'blobmark user create'), '.'));

root.replaceChildren(form);
email.focus();
