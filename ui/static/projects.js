// Project list: create, open, edit and delete projects.
import { api, el, message, signedIn, configEditor, formatTime, mount, can, landing } from './app.js';

const root = document.getElementById('root');
const pageSize = 30;
let page = 1;

async function render() {
  let data;
  try {
    data = await api('GET', `/api/projects/?page=${page}&page_size=${pageSize}`);
  } catch (e) {
    if (e.status === 404 && page > 1) { page--; return render(); }
    root.replaceChildren(message('error', `The projects could not be loaded: ${e.message}`));
    return;
  }
  const manage = can('manage projects');
  const list = data.results.length === 0
    ? el('div', { class: 'card empty', id: 'no-projects' }, manage
      ? 'No projects yet. Create the first one below: pick a labeling template, then connect an Azure container under Cloud storage.'
      : 'No projects yet. An administrator adds you to the projects you label.')
    : el('table', { id: 'projects' },
      el('thead', {}, el('tr', {}, ['Project', 'Tasks', 'Annotated', 'Created', ''].map(h => el('th', {}, h)))),
      el('tbody', {}, data.results.map(p => el('tr', { dataset: { id: p.id } },
        // Those who only label go straight to the labeling page.
        el('td', {}, el('a', { href: `/projects/${p.id}/${manage ? 'data' : 'label'}`, class: 'project-link' }, p.title || `Project ${p.id}`),
          p.description ? el('div', { class: 'hint' }, p.description) : null),
        el('td', {}, String(p.task_number ?? 0)),
        el('td', {}, String(p.num_tasks_with_annotations ?? 0)),
        el('td', {}, formatTime(p.created_at)),
        el('td', {}, el('div', { class: 'row' },
          el('a', { class: manage ? 'button label-project' : 'button primary label-project', href: `/projects/${p.id}/label` }, 'Label'),
          can('review') && !manage ? el('a', { class: 'button', href: `/projects/${p.id}/data` }, 'Tasks') : null,
          can('storages') ? el('a', { class: 'button', href: `/projects/${p.id}/storage` }, 'Storage') : null,
          manage ? el('a', { class: 'button', href: `/projects/${p.id}/settings` }, 'Edit') : null,
          manage ? el('button', { class: 'danger', onclick: () => remove(p) }, 'Delete') : null))))));
  const pages = Math.max(1, Math.ceil(data.count / pageSize));
  const pager = el('div', { class: 'pager' },
    el('button', { disabled: page <= 1, onclick: () => { page--; render(); } }, 'Previous'),
    `Page ${page} of ${pages}`,
    el('button', { disabled: page >= pages, onclick: () => { page++; render(); } }, 'Next'));
  mount(root, el('h1', {}, 'Projects'), list, data.count > pageSize ? pager : null, manage ? createForm() : null);
}

async function remove(p) {
  if (!confirm(`Delete project "${p.title}" with its tasks and annotations? Blobs in Azure are not touched.`)) return;
  try {
    await api('DELETE', `/api/projects/${p.id}/`);
    render();
  } catch (e) {
    alert(`The project could not be deleted: ${e.message}`);
  }
}

function createForm() {
  const title = el('input', { type: 'text', id: 'project-title', name: 'title', required: true, maxlength: '50' });
  const description = el('input', { type: 'text', id: 'project-description', name: 'description' });
  const config = configEditor();
  const status = el('div');
  return el('form', { class: 'card', id: 'create-project', onsubmit: async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    config.showError('');
    try {
      const p = await api('POST', '/api/projects/', { title: title.value, description: description.value, label_config: config.value() });
      location.assign(`/projects/${p.id}/storage`);
    } catch (e) {
      const fe = e.fieldErrors;
      if (fe.label_config) config.showError(fe.label_config.join(' '));
      const rest = Object.entries(fe).filter(([k]) => k !== 'label_config');
      if (rest.length || !fe.label_config) status.replaceChildren(message('error', rest.length ? rest.map(([k, v]) => `${k}: ${v.join(' ')}`).join('\n') : e.message));
    }
  } },
  el('h2', {}, 'New project'),
  el('label', { class: 'field' }, el('span', {}, 'Title'), title),
  el('label', { class: 'field' }, el('span', {}, 'Description ', el('small', {}, '(optional)')), description),
  config.nodes, status,
  el('button', { class: 'primary', type: 'submit', id: 'create-project-submit' }, 'Create project'));
}

// main draws the list; on "/", the landing page, it first lets the role
// decide where to start (landing), and shows the list under its own path.
async function main() {
  await signedIn();
  if (location.pathname === '/') {
    const start = await landing();
    if (start !== '/projects/') { location.replace(start); return; }
    history.replaceState(null, '', '/projects/');
  }
  await render();
}

main().catch(e => root.replaceChildren(message('error', e.message)));
