// The Export dialog of a project: pick a format (those the label config
// does not fit are greyed out with the server's reason), pick the tasks,
// then either download at once — the server streams the file as it reads
// the tasks — or create a snapshot, a job that stores the export, and
// follow its progress until its download links appear or its error does.
import { api, el, message, formatTime } from './app.js';

// maxIDs is the server's cap on the ids of one download.
const maxIDs = 10000;

// pollMs is how often an unfinished snapshot is asked for its state.
const pollMs = 500;

// openExportDialog shows the dialog over the page. selectedIDs are the
// tasks picked one by one in the Data Manager (may be empty), which a
// download can be narrowed to.
export async function openExportDialog(project, selectedIDs) {
  const dialog = el('dialog', { id: 'export-dialog', class: 'card' });
  const close = () => { stopped = true; dialog.close(); dialog.remove(); };
  let stopped = false;
  dialog.addEventListener('close', () => { stopped = true; dialog.remove(); });
  document.body.append(dialog);
  dialog.append(el('p', { class: 'hint' }, 'Loading the formats…'));
  dialog.showModal();

  let formats, snapshots;
  try {
    [formats, snapshots, project] = await Promise.all([
      api('GET', `/api/projects/${project.id}/export/formats`),
      api('GET', `/api/projects/${project.id}/exports/`),
      api('GET', `/api/projects/${project.id}/`),
    ]);
  } catch (e) {
    dialog.replaceChildren(message('error', `The export options could not be loaded: ${e.message}`),
      el('button', { onclick: close }, 'Close'));
    return;
  }

  const choice = { format: formats.find(f => !f.disabled)?.name || 'JSON', onlyAnnotated: true, onlySelected: false };
  const canSelect = selectedIDs.length > 0 && selectedIDs.length <= maxIDs;
  const download = el('a', { class: 'button primary', id: 'export-download', download: '' }, 'Download');
  const snapshot = el('button', { id: 'export-snapshot', onclick: () => createSnapshot() }, 'Create snapshot');
  const snapshotHint = el('small', { class: 'hint', id: 'export-snapshot-hint' });
  const list = el('div', { id: 'snapshots' });
  const note = el('div');

  // sync makes the download link and the snapshot button follow the choice.
  const sync = () => {
    const q = new URLSearchParams({ exportType: choice.format, download_all_tasks: String(!choice.onlyAnnotated) });
    if (choice.onlySelected) q.set('ids', selectedIDs.join(','));
    download.href = `/api/projects/${project.id}/export?${q}`;
    snapshot.disabled = choice.onlySelected;
    snapshotHint.textContent = choice.onlySelected
      ? 'A snapshot covers the whole project; download to export only the selected tasks.' : '';
  };

  const formatList = el('fieldset', { id: 'export-formats' }, el('legend', {}, 'Format'),
    formats.map(f => el('label', { class: `format${f.disabled ? ' disabled' : ''}`, dataset: { format: f.name } },
      el('input', { type: 'radio', name: 'export-format', value: f.name, disabled: f.disabled, checked: f.name === choice.format,
        onchange: () => { choice.format = f.name; sync(); } }),
      el('span', {}, el('b', {}, f.title), ' ', el('small', { class: 'hint' }, f.description),
        f.disabled ? el('small', { class: 'reason' }, `Not available for this project: ${f.disabled_reason || 'the labeling configuration does not fit it.'}`) : null))));

  const filters = el('fieldset', { id: 'export-filters' }, el('legend', {}, 'Tasks'),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'export-annotated', checked: choice.onlyAnnotated,
      onchange: (e) => { choice.onlyAnnotated = e.target.checked; sync(); } }), 'Only tasks with annotations'),
    canSelect ? el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'export-selected',
      onchange: (e) => { choice.onlySelected = e.target.checked; sync(); } }),
    `Only the ${selectedIDs.length} selected task${selectedIDs.length === 1 ? '' : 's'}`) : null);

  // expected is how many tasks a snapshot will hold, for its progress bar.
  const expected = (x) => x.task_filter_options?.only_with_annotations ? project.num_tasks_with_annotations : project.task_number;

  // row draws one snapshot: status, progress while it runs, download
  // links once done, the reason when it or a conversion failed.
  const row = (x) => {
    const written = (x.counters && x.counters.task_number) || 0;
    const total = expected(x) || 0;
    const running = x.status === 'created' || x.status === 'in_progress';
    const pct = x.status === 'completed' ? 100 : total ? Math.min(99, Math.floor(100 * written / total)) : 0;
    const types = ['JSON', ...x.converted_formats.map(c => c.export_type)];
    return el('div', { class: 'snapshot', dataset: { id: x.id, status: x.status } },
      el('div', { class: 'row' },
        el('b', {}, x.title || `Snapshot ${x.id}`),
        el('span', { class: `badge status ${x.status}` }, x.status.replace('_', ' ')),
        el('span', { class: 'hint grow' }, formatTime(x.created_at)),
        el('span', { class: 'hint progress-text' }, running ? `${written} of ${total} tasks` : `${written} tasks`)),
      running || x.status === 'completed'
        ? el('div', { class: `progress${running && !written ? ' indeterminate' : ''}` }, el('div', { style: `width:${pct}%` })) : null,
      x.status === 'failed' ? el('pre', { class: 'traceback' }, x.traceback || 'The snapshot failed; no reason was recorded.') : null,
      x.status === 'completed' ? el('div', { class: 'row' }, 'Download:', types.map(t => {
        const c = x.converted_formats.find(c => c.export_type === t);
        if (c && c.status === 'failed') return el('span', { class: 'msg error conversion-failed' }, `${t}: ${c.traceback || 'conversion failed'}`);
        return el('a', { class: 'button snapshot-download', dataset: { format: t }, download: '',
          href: `/api/projects/${project.id}/exports/${x.id}/download?exportType=${encodeURIComponent(t)}` }, t);
      })) : null);
  };

  // follow redraws a snapshot until it and its conversions have settled.
  const follow = async (x) => {
    for (;;) {
      const old = list.querySelector(`.snapshot[data-id="${x.id}"]`);
      const fresh = row(x);
      if (old) old.replaceWith(fresh); else { list.querySelector('#no-snapshots')?.remove(); list.prepend(fresh); }
      const settled = (s) => s === 'completed' || s === 'failed';
      if (stopped || settled(x.status) && x.converted_formats.every(c => settled(c.status))) return;
      await new Promise(r => setTimeout(r, pollMs));
      try {
        x = await api('GET', `/api/projects/${project.id}/exports/${x.id}`);
      } catch (e) {
        fresh.replaceWith(message('error', `Snapshot ${x.id} could not be read: ${e.message}`));
        return;
      }
    }
  };

  const createSnapshot = async () => {
    snapshot.disabled = true;
    note.replaceChildren();
    const body = { title: `${choice.format} snapshot`, task_filter_options: { only_with_annotations: choice.onlyAnnotated } };
    if (choice.format !== 'JSON') body.converted_formats = [{ export_type: choice.format }];
    try {
      const x = await api('POST', `/api/projects/${project.id}/exports/`, body);
      follow(x);
    } catch (e) {
      note.replaceChildren(message('error', `The snapshot could not be created: ${e.message}`));
    } finally {
      sync();
    }
  };

  sync();
  dialog.replaceChildren(
    el('div', { class: 'row' }, el('h2', { class: 'grow' }, 'Export'), el('button', { id: 'export-close', onclick: close }, 'Close')),
    formatList, filters,
    el('div', { class: 'row' }, download, snapshot, snapshotHint),
    note,
    el('h3', {}, 'Snapshots'),
    el('p', { class: 'hint' }, 'A snapshot is kept on the server: download it later, in any format, as it was when it was taken.'),
    list);
  if (snapshots.length === 0) list.append(el('p', { class: 'hint', id: 'no-snapshots' }, 'No snapshots yet.'));
  for (const x of snapshots.slice().reverse()) follow(x);
}
