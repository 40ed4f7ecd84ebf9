// Sign-up with an invitation link: /user/signup/?token=…
import { api, el, message, landing } from './app.js';

const root = document.getElementById('root');
const token = new URLSearchParams(location.search).get('token') || '';

async function main() {
  let invite;
  try {
    invite = await api('GET', `/api/invites/accept?token=${encodeURIComponent(token)}`, undefined, { redirectOn401: false });
  } catch (e) {
    root.replaceChildren(el('div', { class: 'card login' }, el('h1', {}, 'Invitation'),
      message('error', e.message, { id: 'invite-invalid' }), el('a', { href: '/user/login/' }, 'Sign in')));
    return;
  }
  const email = el('input', { type: 'email', id: 'email', autocomplete: 'username', required: true, value: invite.email || '', readonly: !!invite.email });
  const first = el('input', { type: 'text', id: 'first-name', autocomplete: 'given-name' });
  const last = el('input', { type: 'text', id: 'last-name', autocomplete: 'family-name' });
  const password = el('input', { type: 'password', id: 'password', autocomplete: 'new-password', required: true });
  const status = el('div');
  const form = el('form', { class: 'card login', id: 'signup', onsubmit: async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    try {
      await api('POST', '/api/invites/accept', { token, email: email.value, password: password.value, first_name: first.value, last_name: last.value }, { redirectOn401: false });
      location.assign(await landing());
    } catch (e) {
      status.replaceChildren(message('error', e.message, { id: 'signup-error' }));
    }
  } },
  el('h1', {}, 'Join ', el('span', { id: 'invite-organization' }, invite.organization)),
  el('p', {}, 'You are invited as ', el('b', { id: 'invite-role' }, invite.role_name), '.'),
  el('label', { class: 'field' }, el('span', {}, 'Email'), email),
  el('label', { class: 'field' }, el('span', {}, 'First name'), first),
  el('label', { class: 'field' }, el('span', {}, 'Last name'), last),
  el('label', { class: 'field' }, el('span', {}, 'Password'), password),
  status,
  el('button', { class: 'primary', type: 'submit', id: 'sign-up' }, 'Create my account'));
  root.replaceChildren(form);
}

main();
