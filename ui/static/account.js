// The signed-in user's account: name, password, the legacy API key and
// personal access tokens. Every role may use it (the "label" permission).
import { api, el, message, signedIn, formatTime, mount, shownOnce } from './app.js';

const root = document.getElementById('root');
let me;

// act runs a change and shows its error, or the ok text when given, in
// status; it resolves to whether the change succeeded.
async function act(status, fn, ok) {
  status.replaceChildren();
  try {
    await fn();
    if (ok) status.replaceChildren(message('ok', ok));
    return true;
  } catch (e) {
    status.replaceChildren(message('error', e.message));
    return false;
  }
}

function profileForm() {
  const fields = { first_name: 'First name', last_name: 'Last name', username: 'Username' };
  const inputs = Object.fromEntries(Object.keys(fields).map(k => [k, el('input', { type: 'text', id: k.replace('_', '-'), value: me[k] || '' })]));
  const status = el('div', { id: 'profile-status' });
  return el('form', { class: 'card', id: 'profile', onsubmit: (ev) => {
    ev.preventDefault();
    // Only what changed: the username shown for a user without one is the email.
    const changes = Object.fromEntries(Object.entries(inputs).filter(([k, i]) => i.value !== (me[k] || '')).map(([k, i]) => [k, i.value]));
    if (Object.keys(changes).length === 0) { status.replaceChildren(message('info', 'Nothing changed.')); return; }
    act(status, async () => { me = await api('PATCH', '/api/current-user', changes); }, 'Saved.');
  } },
  el('h2', {}, 'Profile'),
  el('p', { class: 'hint' }, 'You sign in with ', el('b', {}, me.email), '; the email cannot change.'),
  Object.entries(fields).map(([k, label]) => el('label', { class: 'field' }, el('span', {}, label), inputs[k])),
  status,
  el('button', { class: 'primary', type: 'submit', id: 'save-profile' }, 'Save'));
}

function passwordForm() {
  const old = el('input', { type: 'password', id: 'old-password', autocomplete: 'current-password', required: true });
  const pw = el('input', { type: 'password', id: 'new-password', autocomplete: 'new-password', required: true });
  const status = el('div', { id: 'password-status' });
  return el('form', { class: 'card', id: 'password', onsubmit: async (ev) => {
    ev.preventDefault();
    if (await act(status, () => api('PATCH', '/api/current-user', { old_password: old.value, password: pw.value }), 'Password changed.')) {
      old.value = pw.value = '';
    }
  } },
  el('h2', {}, 'Password'),
  el('label', { class: 'field' }, el('span', {}, 'Current password'), old),
  el('label', { class: 'field' }, el('span', {}, 'New password'), pw),
  status,
  el('button', { class: 'primary', type: 'submit', id: 'change-password' }, 'Change password'));
}

function legacyKey() {
  const status = el('div', { id: 'legacy-status' });
  const result = el('div', { id: 'legacy-result' });
  return el('div', { class: 'card', id: 'legacy' },
    el('h2', {}, 'Legacy API key'),
    el('p', { class: 'hint' }, 'Scripts send it as ', el('code', {}, 'Authorization: Token <key>'),
      '. It is stored hashed and cannot be shown again; resetting makes a new one, shown once, and the present one stops working at once.'),
    status, result,
    el('button', { class: 'danger', id: 'reset-key', onclick: () => {
      if (!confirm('Make a new API key? Every script using the present one stops working now.')) return;
      act(status, async () => {
        const { token } = await api('POST', '/api/current-user/reset-token/');
        result.replaceChildren(message('ok', 'Your new key. Copy it now: it is shown only once.'), shownOnce(token, 'legacy-key'));
      });
    } }, 'Reset key'));
}

async function tokenList(status) {
  const tokens = await api('GET', '/api/token/?ordering=-created_at');
  if (tokens.length === 0) return el('div', { id: 'tokens', class: 'hint' }, 'No personal access tokens.');
  return el('table', { id: 'tokens' },
    el('thead', {}, el('tr', {}, ['Token', 'Created', 'Expires', ''].map(h => el('th', {}, h)))),
    el('tbody', {}, tokens.map(t => el('tr', { dataset: { id: t.id } },
      el('td', {}, el('code', {}, t.token)), el('td', {}, formatTime(t.created_at)), el('td', {}, formatTime(t.expires_at)),
      el('td', {}, el('button', { class: 'danger revoke-token', onclick: async () => {
        if (!confirm('Revoke this token? Scripts using it stop working at once.')) return;
        if (await act(status, () => api('DELETE', `/api/token/${t.id}/`), 'Token revoked.')) await redrawTokens(status);
      } }, 'Revoke'))))));
}

async function redrawTokens(status) {
  try {
    document.getElementById('tokens').replaceWith(await tokenList(status));
  } catch (e) {
    status.replaceChildren(message('error', e.message));
  }
}

async function tokensCard() {
  const status = el('div', { id: 'tokens-status' });
  const result = el('div', { id: 'token-result' });
  return el('div', { class: 'card', id: 'pats' },
    el('h2', {}, 'Personal access tokens'),
    el('p', { class: 'hint' }, "Give one to Label Studio's SDK as its api_key: it exchanges the token for short-lived access tokens by itself. Each lives the organization's token lifetime; the list shows the first characters of each token's id (its jti claim)."),
    status, result,
    el('button', { class: 'primary', id: 'create-token', onclick: () => act(status, async () => {
      const t = await api('POST', '/api/token/');
      result.replaceChildren(message('ok', `Your new token, valid until ${formatTime(t.expires_at)}. Copy it now: it is shown only once.`), shownOnce(t.token, 'new-token'));
      await redrawTokens(status);
    }) }, 'Create token'),
    await tokenList(status));
}

signedIn().then(async (user) => {
  me = user;
  try {
    mount(root, el('h1', {}, 'Your account'), profileForm(), passwordForm(), await tokensCard(), legacyKey());
  } catch (e) {
    root.replaceChildren(message('error', `Your account could not be loaded: ${e.message}`));
  }
}).catch(e => root.replaceChildren(message('error', e.message)));
