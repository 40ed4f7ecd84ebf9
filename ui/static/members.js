// Members of the organization: roles, deactivation and invitation links.
import { api, el, message, signedIn, formatTime, mount, can, refusal, roles, roleName, shownOnce } from './app.js';

const root = document.getElementById('root');
let me;

// roleSelect offers the roles the signed-in user may assign, and the
// current one; the server checks the choice all the same.
function roleSelect(current, attrs = {}) {
  return el('select', attrs, roles.filter(r => r.assignable || r.code === current)
    .map(r => el('option', { value: r.code, selected: r.code === current }, r.name)));
}

async function membersTable(status) {
  const org = me.active_organization;
  const data = await api('GET', `/api/organizations/${org}/memberships?page=1&page_size=1000&ordering=email`);
  const act = async (fn) => {
    status.replaceChildren();
    try { await fn(); await render(); } catch (e) { status.replaceChildren(message('error', e.message)); }
  };
  return el('table', { id: 'members' },
    el('thead', {}, el('tr', {}, ['Email', 'Name', 'Role', 'Joined', ''].map(h => el('th', {}, h)))),
    el('tbody', {}, data.results.map(m => {
      const u = m.user;
      const select = roleSelect(m.role, { class: 'member-role', 'aria-label': `Role of ${u.email}`,
        onchange: () => act(() => api('PATCH', `/api/organizations/${org}/memberships`, { user_id: u.id, role: select.value, user_type: 'standard' })) });
      return el('tr', { dataset: { user: u.id } },
        el('td', {}, u.email), el('td', {}, [u.first_name, u.last_name].filter(Boolean).join(' ')),
        el('td', {}, select), el('td', {}, formatTime(u.date_joined)),
        el('td', {}, m.role !== 'DI' && u.id !== me.id && (m.role !== 'OW' || me.role === 'OW') ? el('button', { class: 'danger deactivate', onclick: () => {
          if (confirm(`Deactivate ${u.email}? They can no longer sign in; their annotations stay.`)) act(() => api('DELETE', `/api/organizations/${org}/memberships/${u.id}/`));
        } }, 'Deactivate') : null));
    })));
}

async function inviteForm(status) {
  const projects = (await api('GET', '/api/projects/?page=1&page_size=100')).results;
  const role = roleSelect('AN', { id: 'invite-role' });
  for (const o of role.options) if (o.value === 'DI' || o.value === 'NO') o.remove();
  const email = el('input', { type: 'email', id: 'invite-email', placeholder: 'anyone with the link' });
  const hours = el('input', { type: 'number', id: 'invite-hours', min: '1', max: '720', value: '72' });
  const boxes = projects.map(p => el('label', { class: 'check' }, el('input', { type: 'checkbox', value: p.id, class: 'invite-project', dataset: { title: p.title } }), p.title));
  const result = el('div', { id: 'invite-result' });
  return el('form', { class: 'card', id: 'invite', onsubmit: async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    try {
      const inv = await api('POST', '/api/invites/', {
        role: role.value, email: email.value || undefined, expires_in_hours: Number(hours.value),
        projects: boxes.map(b => b.querySelector('input')).filter(i => i.checked).map(i => Number(i.value)),
      });
      result.replaceChildren(message('ok', `Invitation made for the role ${roleName(inv.role)}. Copy the link now: it is shown only once, and works once, until ${formatTime(inv.expires_at)}.`),
        shownOnce(inv.invite_url, 'invite-url'));
      pending(status).then(t => document.getElementById('invites')?.replaceWith(t));
    } catch (e) {
      result.replaceChildren(message('error', e.message, { id: 'invite-error' }));
    }
  } },
  el('h2', {}, 'Invite someone'),
  el('label', { class: 'field' }, el('span', {}, 'Role'), role),
  el('label', { class: 'field' }, el('span', {}, 'Email ', el('small', {}, '(optional: only this email can use the link)')), email),
  el('label', { class: 'field' }, el('span', {}, 'Valid for (hours)'), hours),
  boxes.length ? el('div', { class: 'field' }, el('span', {}, 'Projects to join'), boxes) : null,
  el('button', { class: 'primary', type: 'submit', id: 'create-invite' }, 'Create invitation link'),
  result);
}

async function pending(status) {
  const invites = await api('GET', '/api/invites/');
  if (invites.length === 0) return el('div', { id: 'invites', class: 'hint' }, 'No pending invitations.');
  return el('table', { id: 'invites' },
    el('thead', {}, el('tr', {}, ['Role', 'Email', 'Projects', 'Expires', ''].map(h => el('th', {}, h)))),
    el('tbody', {}, invites.map(inv => el('tr', { dataset: { id: inv.id } },
      el('td', {}, roleName(inv.role)), el('td', {}, inv.email || 'anyone'), el('td', {}, inv.projects.join(', ')),
      el('td', {}, formatTime(inv.expires_at)),
      el('td', {}, el('button', { class: 'danger revoke', onclick: async () => {
        try { await api('DELETE', `/api/invites/${inv.id}/`); await render(); } catch (e) { status.replaceChildren(message('error', e.message)); }
      } }, 'Revoke'))))));
}

async function render() {
  const status = el('div', { id: 'members-status' });
  try {
    mount(root, el('h1', {}, 'Members'), status, await membersTable(status),
      await inviteForm(status), el('h2', {}, 'Pending invitations'), await pending(status));
  } catch (e) {
    root.replaceChildren(message('error', `The members could not be loaded: ${e.message}`));
  }
}

signedIn().then(async (user) => {
  me = user;
  if (!can('manage members')) {
    root.replaceChildren(refusal('manage the members of the organization'));
    return;
  }
  await render();
}).catch(e => root.replaceChildren(message('error', e.message)));
