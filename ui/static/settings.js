// Project settings: title, description, labeling configuration, deletion.
import { api, el, message, signedIn, loadProject, projectTabs, configEditor } from './app.js';

const root = document.getElementById('root');

async function render() {
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
  root.replaceChildren(...projectTabs(project, 'settings'), form, danger);
}

signedIn().then(render).catch(e => root.replaceChildren(message('error', e.message)));
