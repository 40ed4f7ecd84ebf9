// Project settings: title, description, labeling configuration, members,
// deletion.
import { api, el, message, signedIn, loadProject, projectTabs, configEditor, can, refusal, roleName } from './app.js';

const root = document.getElementById('root');

// membersCard lists the project's members: those added, who can be
// removed, and those whose role sees every project; and adds members.
function membersCard(project) {
  const card = el('div', { class: 'card', id: 'project-members' });
  const draw = async () => {
    let members, users;
    try {
      [members, users] = await Promise.all([api('GET', `/api/projects/${project.id}/members/`), api('GET', '/api/users/')]);
    } catch (e) {
      card.replaceChildren(el('h2', {}, 'Members'), message('error', `The members could not be loaded: ${e.message}`));
      return;
    }
    const status = el('div');
    const act = async (fn) => {
      try { await fn(); await draw(); } catch (e) { status.replaceChildren(message('error', e.message)); }
    };
    const ids = new Set(members.map(m => m.id));
    const candidates = users.filter(u => !ids.has(u.id) && ['RE', 'AN'].includes(u.org_membership?.[0]?.role));
    const pick = el('select', { id: 'add-member-user' }, candidates.map(u => el('option', { value: u.id }, `${u.email} (${roleName(u.org_membership[0].role)})`)));
    card.replaceChildren(el('h2', {}, 'Members'),
      el('p', { class: 'hint' }, 'Reviewers and annotators see the projects they are members of; owners, administrators and managers see every project.'),
      el('table', {}, el('tbody', {}, members.map(m => el('tr', { dataset: { user: m.id } },
        el('td', {}, m.email), el('td', {}, roleName(m.role)),
        el('td', {}, m.implicit_member ? el('span', { class: 'hint' }, 'every project') : el('button', { class: 'danger remove-member',
          onclick: () => act(() => api('DELETE', `/api/projects/${project.id}/members/?user=${m.id}`)) }, 'Remove')))))),
      candidates.length ? el('div', { class: 'row' }, pick, el('button', { id: 'add-member', onclick: () => act(() =>
        api('POST', `/api/projects/${project.id}/members/`, { user: Number(pick.value) })) }, 'Add member')) : null,
      status);
  };
  draw();
  return card;
}

async function render() {
  if (!can('manage projects')) {
    root.replaceChildren(refusal("change a project's settings"));
    return;
  }
  const project = await loadProject(root);
  if (!project) return;
  const title = el('input', { type: 'text', id: 'project-title', value: project.title || '', maxlength: '50' });
  const description = el('input', { type: 'text', id: 'project-description', value: project.description || '' });
  const config = configEditor(project.label_config);
  const status = el('div');
  const form = el('form', { class: 'card', onsubmit: async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    config.showError('');
    try {
      await api('PATCH', `/api/projects/${project.id}/`, { title: title.value, description: description.value, label_config: config.value() });
      status.replaceChildren(message('ok', 'Saved.', { id: 'saved' }));
    } catch (e) {
      const fe = e.fieldErrors;
      if (fe.label_config) config.showError(fe.label_config.join(' '));
      else status.replaceChildren(message('error', e.message));
    }
  } },
  el('label', { class: 'field' }, el('span', {}, 'Title'), title),
  el('label', { class: 'field' }, el('span', {}, 'Description'), description),
  config.nodes, status,
  el('button', { class: 'primary', type: 'submit', id: 'save-project' }, 'Save'));
  const danger = el('div', { class: 'card' }, el('h2', {}, 'Delete this project'),
    el('p', { class: 'hint' }, 'Deletes the project with its tasks, annotations and storage settings. Blobs in Azure are not touched.'),
    el('button', { class: 'danger', id: 'delete-project', onclick: async () => {
      if (!confirm(`Delete project "${project.title}"?`)) return;
      try {
        await api('DELETE', `/api/projects/${project.id}/`);
        location.assign('/projects/');
      } catch (e) { status.replaceChildren(message('error', e.message)); }
    } }, 'Delete project'));
  root.replaceChildren(...projectTabs(project, 'settings'), form, membersCard(project), danger);
}

signedIn().then(render).catch(e => root.replaceChildren(message('error', e.message)));
