// Tasks of a project: a paginated table with a preview of each task's data
// (images through the resolve endpoint), its source file, its annotation
// count and reconcile markers, and the way into the labeling page.
import { api, el, message, signedIn, loadProject, projectTabs, mount, can } from './app.js';

const root = document.getElementById('root');
const pageSize = 20;
let page = Number(new URLSearchParams(location.search).get('page')) || 1;
let project;

// mediaURL reports whether a data value is a link the browser can load.
function mediaURL(v) {
  return typeof v === 'string' && (/^\/(tasks|projects)\/\d+\/(resolve|presign)\//.test(v) || /^(https?:|data:image\/)/.test(v));
}

// mediaError asks the URL once more to show why it failed: the resolver
// answers a JSON error envelope whose detail says what to fix.
async function mediaError(url, box) {
  let reason = 'The file could not be loaded.';
  try {
    const r = await fetch(url, { credentials: 'same-origin' });
    if (!r.ok) {
      const t = await r.text();
      try { reason = JSON.parse(t).detail || reason; } catch { reason = `${r.status} ${t.slice(0, 200)}`; }
    } else {
      reason = `The file is not an image the browser can show (${r.headers.get('Content-Type') || 'unknown type'}).`;
    }
  } catch (e) { reason = e.message; }
  box.replaceChildren(el('span', { class: 'badge marker media-error', title: reason }, 'media failed'), ' ', el('small', { class: 'hint' }, reason));
}

function preview(task) {
  const data = task.data || {};
  const imageKey = Object.keys(data).find(k => mediaURL(data[k]));
  if (imageKey) {
    const box = el('div');
    const img = el('img', { class: 'thumb', alt: `task ${task.id}`, loading: 'lazy', src: data[imageKey] });
    img.addEventListener('error', () => mediaError(data[imageKey], box), { once: true });
    box.append(img);
    return box;
  }
  const unresolved = Object.values(data).find(v => typeof v === 'string' && v.startsWith('azure-blob://'));
  if (unresolved) return el('span', { class: 'hint', title: unresolved }, unresolved, ' (not resolved by the server)');
  const text = Object.values(data).find(v => typeof v === 'string');
  return el('div', { class: 'preview-text', title: text || '' }, text ?? JSON.stringify(data).slice(0, 120));
}

function fileName(task) {
  if (task.storage_filename) return task.storage_filename;
  const uri = Object.values(task.data || {}).find(v => typeof v === 'string' && v.includes('azure-blob://'));
  if (!uri) return '';
  const m = uri.match(/azure-blob:\/\/[^/]+\/([^&]+)/) || uri.match(/fileuri=([^&]+)/);
  try { return m ? decodeURIComponent(m[1]) : ''; } catch { return m[1]; }
}

function markers(task) {
  const out = [];
  // blob_missing: the task's blob was deleted from the container and a
  // reconciling sync kept the task because it has annotations.
  if (task.blob_missing) out.push(el('span', { class: 'badge marker', title: 'The source blob was deleted from the container.' }, 'deleted in storage'));
  if (task.cancelled_annotations > 0) out.push(el('span', { class: 'badge', title: 'Skipped by an annotator.' }, 'skipped'));
  return out;
}

async function storageNotes() {
  if (!can('storages')) return [];
  try {
    const storages = await api('GET', `/api/storages/azure/?project=${project.id}`);
    return storages.filter(s => s.status === 'failed').map(s => message('error',
      `The last sync of "${s.title || 'storage ' + s.id}" failed: ${s.traceback || 'no reason recorded'}`, { class: 'msg error sync-failed' }));
  } catch { return []; }
}

async function render() {
  let data;
  try {
    data = await api('GET', `/api/tasks/?project=${project.id}&page=${page}&page_size=${pageSize}`);
  } catch (e) {
    if (e.status === 404 && page > 1) { page = 1; return render(); }
    root.replaceChildren(...projectTabs(project, 'data'), message('error', `The tasks could not be loaded: ${e.message}`));
    return;
  }
  const notes = await storageNotes();
  const tasks = data.tasks || [];
  const head = el('div', { class: 'row' },
    el('span', { class: 'grow hint' }, `${data.total ?? tasks.length} tasks, ${data.total_annotations ?? 0} annotations`),
    el('a', { class: 'button primary', id: 'label-all', href: `/projects/${project.id}/label` }, 'Label tasks'));
  let body;
  if (tasks.length === 0) {
    body = el('div', { class: 'card empty', id: 'no-tasks' }, 'No tasks yet. ',
      can('storages') ? [el('a', { href: `/projects/${project.id}/storage` }, 'Connect an Azure container'), ' and sync it to create one task per file.'] : null);
  } else {
    body = el('table', { id: 'tasks' },
      el('thead', {}, el('tr', {}, ['ID', 'Data', 'Source file', 'Annotations', '', ''].map(h => el('th', {}, h)))),
      el('tbody', {}, tasks.map(t => el('tr', { dataset: { id: t.id } },
        el('td', {}, String(t.id)),
        el('td', {}, preview(t)),
        el('td', { class: 'source-file' }, fileName(t)),
        el('td', { class: 'annotation-count' }, String(t.total_annotations ?? 0)),
        el('td', {}, markers(t)),
        el('td', {}, el('a', { class: 'button label-task', href: `/projects/${project.id}/label?task=${t.id}` }, 'Label'))))));
  }
  const pages = Math.max(1, Math.ceil((data.total || 0) / pageSize));
  const go = (n) => { page = n; history.replaceState(null, '', `?page=${n}`); render(); };
  const pager = el('div', { class: 'pager' },
    el('button', { disabled: page <= 1, onclick: () => go(page - 1) }, 'Previous'),
    `Page ${page} of ${pages}`,
    el('button', { disabled: page >= pages, onclick: () => go(page + 1) }, 'Next'));
  mount(root, projectTabs(project, 'data'), notes, head, body, pages > 1 ? pager : null);
}

signedIn().then(async () => {
  project = await loadProject(root);
  if (project) await render();
}).catch(e => root.replaceChildren(message('error', e.message)));
