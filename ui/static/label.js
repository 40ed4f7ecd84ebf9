// Labeling page: the Label Studio Frontend editor (loaded as the classic
// script /static/vendor/lsf/1.4.0/main.js, which sets window.LabelStudio)
// on a task whose media URLs the API has resolved. Submit creates an
// annotation, Update patches it, Skip records a cancelled one; after Submit
// or Skip the next unlabeled task opens in place.
import { api, el, message, signedIn, loadProject, projectTabs } from './app.js';

const root = document.getElementById('root');
const status = el('div', { id: 'status' });
const mediaNotes = el('div', { id: 'media-notes' });
const editor = el('div', { id: 'label-studio' });
let ls = null;
let user;
let project;
let current = null;

function say(kind, text) { status.replaceChildren(message(kind, text)); }

// nextUnlabeled returns the first task of the project, other than skip,
// that has neither an annotation nor a skip.
async function nextUnlabeled(skip) {
  for (let page = 1; ; page++) {
    let data;
    try {
      data = await api('GET', `/api/tasks/?project=${project.id}&page=${page}&page_size=100`);
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
    const tasks = data.tasks || [];
    if (tasks.length === 0) return null;
    const t = tasks.find(t => t.id !== skip && !t.total_annotations && !t.cancelled_annotations);
    if (t) return t.id;
    // Stop at the last page rather than ask past it (a 404).
    if (page * 100 >= (data.total ?? 0)) return null;
  }
}

// checkMedia loads every media URL of the task once and, when one fails,
// shows the resolver's reason above the editor.
function checkMedia(task) {
  mediaNotes.replaceChildren();
  for (const [key, v] of Object.entries(task.data || {})) {
    if (typeof v !== 'string') continue;
    if (v.startsWith('azure-blob://')) {
      mediaNotes.append(message('error', `"${key}" is ${v}, which the server did not resolve to a URL the browser can load.`));
      continue;
    }
    if (!/^\/(tasks|projects)\/\d+\/(resolve|presign)\//.test(v)) continue;
    const img = new Image();
    img.onerror = async () => {
      let reason = 'the file could not be loaded';
      try {
        const r = await fetch(v, { credentials: 'same-origin' });
        const t = await r.text();
        try { reason = JSON.parse(t).detail || reason; } catch { reason = `${r.status} ${t.slice(0, 200)}`; }
      } catch (e) { reason = e.message; }
      mediaNotes.append(message('error', `"${key}" could not be loaded: ${reason}`, { class: 'msg error media-error' }));
    };
    img.src = v;
  }
}

function annotationBody(annotation, extra = {}) {
  return {
    result: annotation.serializeAnnotation(),
    lead_time: (new Date() - new Date(annotation.loadedDate)) / 1000,
    ...extra,
  };
}

async function open(taskID) {
  if (ls) { ls.destroy(); ls = null; }
  if (!taskID) {
    current = null;
    editor.replaceChildren(el('div', { class: 'card empty', id: 'all-done' }, 'Every task of this project is labeled or skipped. ',
      el('a', { href: `/projects/${project.id}/data` }, 'Back to the tasks')));
    return;
  }
  let task;
  try {
    task = await api('GET', `/api/tasks/${taskID}/`);
  } catch (e) {
    editor.replaceChildren(message('error', e.status === 404 ? `Task ${taskID} does not exist.` : `Task ${taskID} could not be loaded: ${e.message}`));
    return;
  }
  if (task.project !== project.id) {
    editor.replaceChildren(message('error', `Task ${taskID} belongs to another project.`));
    return;
  }
  current = task;
  history.replaceState(null, '', `/projects/${project.id}/label?task=${task.id}`);
  document.getElementById('task-title').textContent = `Task #${task.id}`;
  checkMedia(task);
  // The editor cannot load an azure-blob:// URI; say so instead of showing
  // it broken.
  if (Object.values(task.data || {}).some(v => typeof v === 'string' && v.startsWith('azure-blob://'))) {
    editor.replaceChildren(message('error', 'This task cannot be labeled here: the server did not resolve its Azure blob to a URL the browser can load.', { id: 'unresolved-media' }));
    return;
  }
  editor.replaceChildren();
  const mine = (task.annotations || []).filter(a => !a.was_cancelled);
  ls = new window.LabelStudio(editor, {
    config: project.label_config,
    interfaces: ['topbar', 'panel', 'update', 'submit', 'skip', 'controls', 'side-column',
      'annotations:menu', 'annotations:add-new', 'annotations:delete', 'predictions:menu'],
    user: { id: user.id, pk: user.id, firstName: user.first_name || user.email, lastName: user.last_name || '' },
    task: {
      id: task.id, data: task.data,
      annotations: mine.map(a => ({ id: String(a.id), pk: String(a.id), result: a.result })),
      predictions: (task.predictions || []).map(p => ({ id: p.id, result: p.result, model_version: p.model_version, score: p.score })),
    },
    onLabelStudioLoad(store) {
      if (mine.length === 0) {
        const a = store.annotationStore.addAnnotation({ userGenerate: true });
        store.annotationStore.selectAnnotation(a.id);
      }
    },
    async onSubmitAnnotation(store, annotation) {
      try {
        const saved = await api('POST', `/api/tasks/${task.id}/annotations/`, annotationBody(annotation, { was_cancelled: false }));
        annotation.updatePersonalKey(String(saved.id));
        say('ok', `Saved annotation #${saved.id} of task #${task.id}.`);
        document.body.dataset.lastAnnotation = String(saved.id);
        setTimeout(async () => open(await nextUnlabeled(task.id)), 0);
      } catch (e) {
        say('error', `The annotation was not saved: ${e.message}`);
        throw e;
      }
    },
    async onUpdateAnnotation(store, annotation) {
      try {
        const saved = await api('PATCH', `/api/annotations/${annotation.pk}/`, annotationBody(annotation));
        say('ok', `Updated annotation #${saved.id} of task #${task.id}.`);
      } catch (e) {
        say('error', `The annotation was not updated: ${e.message}`);
        throw e;
      }
    },
    async onDeleteAnnotation(store, annotation) {
      if (!annotation.pk) return;
      try {
        await api('DELETE', `/api/annotations/${annotation.pk}/`);
        say('ok', `Deleted annotation #${annotation.pk}.`);
      } catch (e) { say('error', `The annotation was not deleted: ${e.message}`); }
    },
    async onSkipTask(store) {
      try {
        await api('POST', `/api/tasks/${task.id}/annotations/`, { result: [], was_cancelled: true });
        say('info', `Skipped task #${task.id}.`);
        setTimeout(async () => open(await nextUnlabeled(task.id)), 0);
      } catch (e) { say('error', `The task was not skipped: ${e.message}`); }
    },
  });
}

async function main() {
  user = await signedIn();
  project = await loadProject(root);
  if (!project) return;
  const title = el('h2', { id: 'task-title' }, 'Labeling');
  root.replaceChildren(...projectTabs(project, ''), title, status, mediaNotes, editor);
  if (typeof window.LabelStudio !== 'function') {
    editor.replaceChildren(message('error', 'The annotator bundle is not part of this build. Run `make setup` (it runs ui/build.sh after `npm ci`) and build blobmark again.', { id: 'no-editor' }));
    return;
  }
  const asked = Number(new URLSearchParams(location.search).get('task'));
  await open(asked || await nextUnlabeled(0));
}

// The editor script is deferred; module scripts run after it.
main().catch(e => root.replaceChildren(message('error', e.message)));
