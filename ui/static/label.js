// Labeling page: the Label Studio Frontend editor (loaded as the classic
// script /static/vendor/lsf/1.4.0/main.js, which sets window.LabelStudio)
// on a task whose media URLs the API has resolved. The server's label
// stream (GET /api/projects/{id}/next/) chooses the task and locks it for
// this user; the page renews the lock while it is open and gives it back
// when it closes. Submit creates an annotation, Update patches it, Skip
// records a cancelled one; after Submit or Skip the stream's next task
// opens in place. The task's predictions are shown as pre-annotations.
import { api, cookie, el, message, signedIn, loadProject, projectTabs } from './app.js';

const root = document.getElementById('root');
const title = el('h2', { id: 'task-title' }, 'Labeling');
const progress = el('div', { id: 'task-progress', class: 'muted' });
const queue = el('div', { id: 'queue', class: 'muted' });
const status = el('div', { id: 'status' });
const mediaNotes = el('div', { id: 'media-notes' });
// The editor's stylesheet applies inside .lsf-editor only (see ui/build.sh).
const editor = el('div', { id: 'label-studio', class: 'lsf-editor' });
let ls = null;
let user;
let project;
let current = null;
let heartbeat = null;

function say(kind, text) { status.replaceChildren(message(kind, text)); }

// nextTask asks the stream for this user's next task, locked for them;
// null when nothing is left.
async function nextTask() {
  try {
    return await api('GET', `/api/projects/${project.id}/next/`);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// hold keeps the lock on the open task alive: the server lets a lock go
// after the project's custom_task_lock_ttl, so it is renewed three times
// per period. A renewal refused means someone else has the task now.
function hold(task) {
  release();
  const every = Math.max(5, (project.custom_task_lock_ttl || 600) / 3) * 1000;
  heartbeat = setInterval(async () => {
    try {
      await api('POST', `/api/tasks/${task.id}/lock`);
    } catch (e) {
      if (e.status === 409) say('error', `Task #${task.id} is no longer held for you: ${e.message} Open the next task to go on.`);
    }
  }, every);
}

// release stops the heartbeat and gives the open task back, so that it
// goes to someone else at once rather than when the lock runs out.
function release({ leaving = false } = {}) {
  if (heartbeat) { clearInterval(heartbeat); heartbeat = null; }
  if (!leaving || !current) return;
  fetch(`/api/tasks/${current.id}/lock`, {
    method: 'DELETE', keepalive: true, credentials: 'same-origin',
    headers: { 'X-CSRFToken': cookie('blobmark_csrf') },
  }).catch(() => {});
}

// showProgress says where the task stands against the project's overlap.
function showProgress(task) {
  const overlap = task.overlap || project.maximum_annotations || 1;
  const done = task.total_annotations || 0;
  const parts = [`${done} of ${overlap} annotation${overlap === 1 ? '' : 's'}`];
  if (task.queue) parts.push(task.queue);
  if (task.predictions && task.predictions.length) parts.push(`${task.predictions.length} prediction${task.predictions.length === 1 ? '' : 's'}`);
  progress.textContent = parts.join(' · ');
}

// showQueue says where the user stands in the project, from the project's
// queue counts (queue_done/left/total, finished_task_number).
async function showQueue() {
  try {
    const p = await api('GET', `/api/projects/${project.id}/`);
    queue.textContent = `You: ${p.queue_done} done, ${p.queue_left} left of ${p.queue_total} · project: ${p.finished_task_number} of ${p.task_number} tasks labeled`;
  } catch { queue.textContent = ''; }
}

async function openNext() {
  try {
    await open(await nextTask());
  } catch (e) {
    say('error', `The next task could not be loaded: ${e.message}`);
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

// openByID opens the task the address names (a link from the tasks page)
// and takes the lock on it if it has room for this user; without room it
// still opens, for a look, and says so.
async function openByID(taskID) {
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
  try {
    await api('POST', `/api/tasks/${task.id}/lock`);
  } catch (e) {
    if (e.status !== 409) throw e;
    say('info', `Task #${task.id} is not held for you: ${e.message}`);
  }
  await open(task);
}

// open shows task in the editor, or "all done" when task is null.
async function open(task) {
  if (ls) { ls.destroy(); ls = null; }
  release();
  current = task;
  showQueue();
  if (!task) {
    title.textContent = 'All done';
    progress.textContent = '';
    mediaNotes.replaceChildren();
    history.replaceState(null, '', `/projects/${project.id}/label`);
    editor.replaceChildren(el('div', { class: 'card empty', id: 'all-done' },
      'Nothing is left for you to label in this project: every task is done, skipped by you, or with as many annotators as it needs. ',
      el('a', { href: `/projects/${project.id}/data` }, 'Back to the tasks')));
    return;
  }
  hold(task);
  history.replaceState(null, '', `/projects/${project.id}/label?task=${task.id}`);
  title.textContent = `Task #${task.id}`;
  showProgress(task);
  checkMedia(task);
  // The editor cannot load an azure-blob:// URI; say so instead of showing
  // it broken.
  if (Object.values(task.data || {}).some(v => typeof v === 'string' && v.startsWith('azure-blob://'))) {
    editor.replaceChildren(message('error', 'This task cannot be labeled here: the server did not resolve its Azure blob to a URL the browser can load.', { id: 'unresolved-media' }));
    return;
  }
  editor.replaceChildren();
  const mine = (task.annotations || []).filter(a => !a.was_cancelled && a.completed_by === user.id);
  const interfaces = ['topbar', 'panel', 'update', 'submit', 'controls', 'side-column',
    'annotations:menu', 'annotations:add-new', 'annotations:delete', 'predictions:tabs', 'predictions:menu'];
  if (project.show_skip_button) interfaces.push('skip');
  ls = new window.LabelStudio(editor, {
    config: project.label_config,
    interfaces,
    user: { id: user.id, pk: user.id, firstName: user.first_name || user.email, lastName: user.last_name || '' },
    task: {
      id: task.id, data: task.data,
      annotations: mine.map(a => ({ id: String(a.id), pk: String(a.id), result: a.result })),
      predictions: (task.predictions || []).map(p => ({ id: p.id, result: p.result, model_version: p.model_version, score: p.score })),
    },
    // A new annotation starts from the best prediction, if there is one,
    // so the annotator corrects the model rather than starting over.
    onLabelStudioLoad(store) {
      if (mine.length > 0) return;
      const as = store.annotationStore;
      const preds = as.predictions || [];
      const best = preds.length ? preds.reduce((a, b) => ((b.score ?? -Infinity) > (a.score ?? -Infinity) ? b : a)) : null;
      const a = best ? as.addAnnotationFromPrediction(best) : as.addAnnotation({ userGenerate: true });
      as.selectAnnotation(a.id);
    },
    async onSubmitAnnotation(store, annotation) {
      try {
        const saved = await api('POST', `/api/tasks/${task.id}/annotations/`, annotationBody(annotation, { was_cancelled: false }));
        annotation.updatePersonalKey(String(saved.id));
        say('ok', `Saved annotation #${saved.id} of task #${task.id}.`);
        document.body.dataset.lastAnnotation = String(saved.id);
        current = null; // the submit released the lock
        setTimeout(openNext, 0);
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
        current = null; // the skip released the lock
        setTimeout(openNext, 0);
      } catch (e) { say('error', `The task was not skipped: ${e.message}`); }
    },
  });
}

async function main() {
  user = await signedIn();
  project = await loadProject(root);
  if (!project) return;
  root.replaceChildren(...projectTabs(project, 'label'), title, progress, queue, status, mediaNotes, editor);
  if (typeof window.LabelStudio !== 'function') {
    editor.replaceChildren(message('error', 'The annotator bundle is not part of this build. Run `make setup` (it runs ui/build.sh after `npm ci`) and build blobmark again.', { id: 'no-editor' }));
    return;
  }
  addEventListener('pagehide', () => release({ leaving: true }));
  const asked = Number(new URLSearchParams(location.search).get('task'));
  if (asked) await openByID(asked);
  else await openNext();
}

// The editor script is deferred; module scripts run after it.
main().catch(e => root.replaceChildren(message('error', e.message)));
