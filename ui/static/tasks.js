// Tasks of a project: the Data Manager. Saved views as tabs; filters with
// Label Studio's operators, a search box, sorting by a column header, a
// column chooser; server-side pages; row selection, "all matching", and
// bulk actions confirmed with the number of tasks they touch. Everything
// is one query sent to /api/tasks/ — nothing is filtered in the browser,
// so a million-task project pages as fast as a small one. The Export
// button opens the project's Export dialog (export.js).
import { api, el, message, signedIn, loadProject, projectTabs, mount, can } from './app.js';
import { openExportDialog } from './export.js';

const root = document.getElementById('root');
const params = new URLSearchParams(location.search);
let project;
let columns = [];   // from /api/dm/columns/: [{id, title, type}]
let actions = [];   // from /api/dm/actions/
let views = [];     // the project's saved views
let dataKeys = [];  // data.<key> columns of the label config

// The state of the page, which a saved view keeps in its data.
const state = {
  view: Number(params.get('view')) || 0,
  page: Number(params.get('page')) || 1,
  pageSize: 20,
  conjunction: 'and',
  filters: [],        // [{filter: 'filter:tasks:…', operator, type, value}]
  ordering: '',       // 'tasks:…' or '-tasks:…'
  hidden: [],         // column ids the column chooser hides
  search: '',
};
// The selection: ids picked one by one, or every matching task but some.
let selection = { all: false, ids: new Set() };
let lastTotal = 0;

// The table's columns: what each shows of a task. "data" is the preview.
const shown = [
  { id: 'id', title: 'ID', sort: 'id', cell: t => String(t.id) },
  { id: 'data', title: 'Data', cell: t => preview(t) },
  { id: 'storage_filename', title: 'Source file', sort: 'storage_filename', cls: 'source-file', cell: t => t.storage_filename || '' },
  { id: 'total_annotations', title: 'Annotations', sort: 'total_annotations', cls: 'annotation-count', cell: t => String(t.total_annotations ?? 0) },
  { id: 'cancelled_annotations', title: 'Skipped', sort: 'cancelled_annotations', cell: t => String(t.cancelled_annotations ?? 0) },
  { id: 'total_predictions', title: 'Predictions', sort: 'total_predictions', cell: t => String(t.total_predictions ?? 0) },
  { id: 'is_labeled', title: 'Completed', sort: 'is_labeled', cell: t => t.is_labeled ? '✓' : '' },
  { id: 'inner_id', title: 'Inner ID', sort: 'inner_id', cell: t => String(t.inner_id ?? '') },
  { id: 'created_at', title: 'Created', sort: 'created_at', cell: t => shortTime(t.created_at) },
  { id: 'updated_at', title: 'Updated', sort: 'updated_at', cell: t => shortTime(t.updated_at) },
];
const hiddenByDefault = ['inner_id', 'created_at', 'cancelled_annotations'];

// Operators by column type, as the server accepts them.
const operators = {
  Number: ['equal', 'not_equal', 'less', 'greater', 'less_or_equal', 'greater_or_equal', 'in', 'not_in', 'exists', 'not_exists', 'empty'],
  Datetime: ['equal', 'not_equal', 'less', 'greater', 'less_or_equal', 'greater_or_equal', 'in', 'not_in', 'exists', 'not_exists', 'empty'],
  Boolean: ['equal', 'not_equal', 'exists', 'not_exists', 'empty'],
  String: ['contains', 'not_contains', 'equal', 'not_equal', 'starts_with', 'ends_with', 'in_list', 'not_in_list', 'exists', 'not_exists', 'empty'],
  List: ['contains', 'not_contains', 'exists', 'not_exists', 'empty'],
};
const operatorLabels = { equal: '=', not_equal: '≠', less: '<', greater: '>', less_or_equal: '≤', greater_or_equal: '≥',
  in: 'between', not_in: 'not between', in_list: 'in list', not_in_list: 'not in list', contains: 'contains',
  not_contains: 'does not contain', starts_with: 'starts with', ends_with: 'ends with', exists: 'exists',
  not_exists: 'does not exist', empty: 'is empty' };

function shortTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

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

// searchFilter is the search box as a filter: data text (the config's
// first data key, else the source file name) contains the words.
function searchFilter() {
  if (!state.search) return null;
  const column = dataKeys.length ? `data.${dataKeys[0]}` : 'storage_filename';
  return { filter: `filter:tasks:${column}`, operator: 'contains', type: 'String', value: state.search };
}

// query is the page's state as Label Studio's query JSON.
function query(withSelection) {
  const items = state.filters.filter(f => complete(f)).map(f => ({ ...f }));
  const search = searchFilter();
  let conjunction = state.conjunction;
  if (search) {
    // The search narrows whatever the filters select.
    if (conjunction === 'or' && items.length > 1) return { error: 'Search works with "all of" filters; switch the filters to "all of" to search.' };
    items.push(search);
    conjunction = 'and';
  }
  const q = { filters: { conjunction, items }, ordering: state.ordering ? [state.ordering] : [] };
  if (withSelection) {
    q.selectedItems = selection.all ? { all: true, excluded: [...selection.ids] } : { all: false, included: [...selection.ids] };
  }
  return q;
}

function complete(f) {
  if (['exists', 'not_exists', 'empty'].includes(f.operator)) return true;
  if (f.operator === 'in' || f.operator === 'not_in') return f.value && f.value.min !== '' && f.value.max !== '' && f.value.min != null && f.value.max != null;
  return f.value !== '' && f.value != null && !(Array.isArray(f.value) && f.value.length === 0);
}

function selectedCount() {
  return selection.all ? lastTotal - selection.ids.size : selection.ids.size;
}

function columnType(id) {
  const c = columns.find(c => c.id === id);
  return c ? c.type : 'String';
}

// typed converts a typed-in value to the filter's type.
function typed(type, v) {
  if (v === '' || v == null) return '';
  if (type === 'Number' || type === 'List') { const n = Number(v); return isNaN(n) ? v : n; }
  if (type === 'Boolean') return v === true || v === 'true';
  if (type === 'Datetime') { const d = new Date(v); return isNaN(d) ? v : d.toISOString(); }
  return v;
}

function valueInput(f, onChange) {
  const type = f.type;
  const kind = type === 'Number' || type === 'List' ? 'number' : type === 'Datetime' ? 'datetime-local' : 'text';
  const toInput = (v) => type === 'Datetime' && v ? new Date(v).toISOString().slice(0, 16) : (v ?? '');
  if (['exists', 'not_exists'].includes(f.operator)) return null;
  if (f.operator === 'empty' || type === 'Boolean') {
    return el('select', { class: 'f-value', onchange: (e) => onChange(e.target.value === 'true') },
      el('option', { value: 'true', selected: f.value !== false }, f.operator === 'empty' ? 'yes' : 'true'),
      el('option', { value: 'false', selected: f.value === false }, f.operator === 'empty' ? 'no' : 'false'));
  }
  if (f.operator === 'in' || f.operator === 'not_in') {
    const v = f.value && typeof f.value === 'object' ? f.value : { min: '', max: '' };
    const end = (k) => el('input', { type: kind, class: `f-${k}`, value: toInput(v[k]), placeholder: k,
      onchange: (e) => onChange({ ...v, [k]: typed(type, e.target.value) }) });
    return el('span', { class: 'row' }, end('min'), 'and', end('max'));
  }
  if (f.operator === 'in_list' || f.operator === 'not_in_list') {
    return el('input', { type: 'text', class: 'f-value', placeholder: 'a, b, c', value: Array.isArray(f.value) ? f.value.join(', ') : '',
      onchange: (e) => onChange(e.target.value.split(',').map(s => s.trim()).filter(Boolean).map(s => typed(type, s))) });
  }
  return el('input', { type: kind, class: 'f-value', value: toInput(f.value), placeholder: type === 'List' ? 'user id' : 'value',
    onchange: (e) => onChange(typed(type, e.target.value)) });
}

function filterRow(f, i) {
  const column = f.filter.replace('filter:tasks:', '');
  const set = (patch) => { Object.assign(state.filters[i], patch); state.page = 1; render(); };
  return el('div', { class: 'row filter', dataset: { index: i } },
    el('select', { class: 'f-column', onchange: (e) => {
      let id = e.target.value;
      if (id === '') {
        // A data field the label config does not name.
        const key = (prompt('Task data field (the key in each task\'s data):') || '').trim();
        if (!key) return render();
        id = `data.${key}`;
        columns.push({ id, title: key, type: 'String' });
      }
      const type = columnType(id);
      set({ filter: `filter:tasks:${id}`, type, operator: operators[type][0], value: type === 'Boolean' ? true : '' });
    } }, columns.map(c => el('option', { value: c.id, selected: c.id === column }, c.title)),
    el('option', { value: '' }, 'Other data field…')),
    el('select', { class: 'f-operator', onchange: (e) => set({ operator: e.target.value, value: e.target.value === 'empty' ? true : f.value }) },
      (operators[f.type] || operators.String).map(op => el('option', { value: op, selected: op === f.operator }, operatorLabels[op]))),
    valueInput(f, (value) => set({ value })),
    el('button', { class: 'f-remove', title: 'Remove this filter', onclick: () => { state.filters.splice(i, 1); state.page = 1; render(); } }, '×'));
}

function filtersPanel() {
  const add = () => {
    const c = columns.find(c => c.id.startsWith('data.')) || columns[0];
    state.filters.push({ filter: `filter:tasks:${c.id}`, operator: operators[c.type][0], type: c.type, value: c.type === 'Boolean' ? true : '' });
    render();
  };
  return el('div', { class: 'card dm-filters', id: 'filters' },
    el('div', { class: 'row' },
      el('b', {}, 'Filters'),
      state.filters.length > 1 ? el('select', { id: 'conjunction', onchange: (e) => { state.conjunction = e.target.value; state.page = 1; render(); } },
        el('option', { value: 'and', selected: state.conjunction === 'and' }, 'match all of'),
        el('option', { value: 'or', selected: state.conjunction === 'or' }, 'match any of')) : null,
      el('button', { id: 'add-filter', onclick: add }, '+ Add filter'),
      el('span', { class: 'grow' }),
      el('input', { type: 'text', id: 'search', placeholder: dataKeys.length ? `Search ${dataKeys[0]}…` : 'Search file names…', value: state.search,
        onchange: (e) => { state.search = e.target.value.trim(); state.page = 1; render(); } })),
    state.filters.map(filterRow));
}

function columnChooser() {
  const box = el('details', { class: 'dm-columns', id: 'column-chooser' },
    el('summary', { class: 'button' }, 'Columns'),
    el('div', { class: 'card' }, shown.map(c => el('label', { class: 'check' },
      el('input', { type: 'checkbox', checked: !state.hidden.includes(c.id), dataset: { column: c.id }, onchange: (e) => {
        state.hidden = e.target.checked ? state.hidden.filter(h => h !== c.id) : [...state.hidden, c.id];
        render();
      } }), c.title))));
  return box;
}

// viewData is what a saved view keeps: the query and the UI's own keys.
function viewData(title) {
  const q = query(false);
  return { title, filters: q.filters || { conjunction: state.conjunction, items: [] }, ordering: q.ordering || [],
    hiddenColumns: { explore: state.hidden.map(c => `tasks:${c}`) }, search: state.search };
}

function applyView(v) {
  const d = (v && v.data) || {};
  const filters = (d.filters && d.filters.items) || [];
  state.search = d.search || '';
  const search = searchFilter();
  state.filters = filters.filter(f => !(search && f.filter === search.filter && f.operator === 'contains' && f.value === state.search)).map(f => ({ ...f }));
  state.conjunction = (d.filters && d.filters.conjunction) || 'and';
  state.ordering = (d.ordering && d.ordering[0]) || '';
  const hidden = d.hiddenColumns && d.hiddenColumns.explore;
  state.hidden = Array.isArray(hidden) ? hidden.map(h => h.replace(/^tasks:/, '')) : [...hiddenByDefault];
  state.page = 1;
}

function viewTabs() {
  const open = (v) => {
    state.view = v ? v.id : 0;
    applyView(v);
    selection = { all: false, ids: new Set() };
    history.replaceState(null, '', state.view ? `?view=${state.view}` : location.pathname);
    render();
  };
  const save = async () => {
    try {
      const current = views.find(v => v.id === state.view);
      if (current) {
        await api('PATCH', `/api/dm/views/${current.id}/`, { data: viewData(current.data.title || `View ${current.id}`) });
      } else {
        const title = prompt('Name of the new view:', `View ${views.length + 1}`);
        if (!title) return;
        const v = await api('POST', '/api/dm/views/', { project: project.id, data: viewData(title) });
        state.view = v.id;
        history.replaceState(null, '', `?view=${v.id}`);
      }
      views = await api('GET', `/api/dm/views/?project=${project.id}`);
      render(message('ok', 'The view was saved.', { id: 'view-saved' }));
    } catch (e) { render(message('error', `The view could not be saved: ${e.message}`)); }
  };
  const remove = async (v) => {
    if (!confirm(`Delete the view "${v.data.title || v.id}"? Its tasks stay.`)) return;
    try {
      await api('DELETE', `/api/dm/views/${v.id}/`);
      views = views.filter(x => x.id !== v.id);
      open(null);
    } catch (e) { render(message('error', `The view could not be deleted: ${e.message}`)); }
  };
  return el('nav', { class: 'tabs dm-views', id: 'views' },
    el('a', { href: '#', class: state.view ? '' : 'active', dataset: { view: 0 }, onclick: (e) => { e.preventDefault(); open(null); } }, 'All tasks'),
    views.map(v => el('span', { class: 'view-tab' },
      el('a', { href: `?view=${v.id}`, class: v.id === state.view ? 'active' : '', dataset: { view: v.id },
        onclick: (e) => { e.preventDefault(); open(v); } }, v.data.title || `View ${v.id}`),
      v.id === state.view ? el('button', { class: 'link delete-view', title: 'Delete this view', onclick: () => remove(v) }, '×') : null)),
    el('span', { class: 'grow' }),
    el('button', { id: 'save-view', onclick: save }, state.view ? 'Save view' : 'Save as view'));
}

function actionsBar() {
  const n = selectedCount();
  const run = async (a) => {
    const count = selectedCount();
    if (!confirm(`${a.title}: ${count} task${count === 1 ? '' : 's'} will be affected.\n\n${a.dialog.text}\n\nContinue?`)) return;
    try {
      const q = query(true);
      const r = await api('POST', `/api/dm/actions/?id=${encodeURIComponent(a.id)}&project=${project.id}`, q);
      selection = { all: false, ids: new Set() };
      render(message('ok', `${a.title}: ${r.processed_items} task${r.processed_items === 1 ? '' : 's'} processed.`, { id: 'action-done' }));
    } catch (e) { render(message('error', `${a.title} failed: ${e.message}`)); }
  };
  return el('div', { class: 'row dm-actions', id: 'actions' },
    el('span', { id: 'selected-count', class: 'hint' }, n ? `${n} selected` : 'Select tasks to act on them'),
    n && !selection.all && lastTotal > selection.ids.size ? el('button', { id: 'select-all-matching', onclick: () => { selection = { all: true, ids: new Set() }; render(); } },
      `Select all ${lastTotal} matching`) : null,
    n ? el('button', { id: 'clear-selection', onclick: () => { selection = { all: false, ids: new Set() }; render(); } }, 'Clear') : null,
    n ? actions.map(a => el('button', { class: 'danger action', dataset: { action: a.id }, onclick: () => run(a) }, a.title)) : null);
}

function header(visible) {
  const all = el('input', { type: 'checkbox', id: 'select-page', title: 'Select this page' });
  const sortBy = (c) => {
    const asc = `tasks:${c.sort}`;
    state.ordering = state.ordering === asc ? `-${asc}` : state.ordering === `-${asc}` ? '' : asc;
    state.page = 1;
    render();
  };
  return [all, el('thead', {}, el('tr', {}, el('th', {}, all),
    visible.map(c => {
      const dir = state.ordering === `tasks:${c.sort}` ? ' ▲' : state.ordering === `-tasks:${c.sort}` ? ' ▼' : '';
      return el('th', { class: c.sort ? 'sortable' : '', dataset: { column: c.id }, onclick: c.sort ? () => sortBy(c) : null }, c.title + dir);
    }),
    el('th', {}, ''), el('th', {}, '')))];
}

async function render(note) {
  const q = query(false);
  const panel = [viewTabs(), filtersPanel()];
  if (q.error) {
    mount(root, projectTabs(project, 'data'), panel, message('error', q.error));
    return;
  }
  let data;
  try {
    data = await api('GET', `/api/tasks/?project=${project.id}&page=${state.page}&page_size=${state.pageSize}&query=${encodeURIComponent(JSON.stringify(q))}`);
  } catch (e) {
    if (e.status === 404 && state.page > 1) { state.page = 1; return render(note); }
    mount(root, projectTabs(project, 'data'), panel, message('error', `The tasks could not be loaded: ${e.message}`));
    return;
  }
  lastTotal = data.total ?? 0;
  const notes = await storageNotes();
  const tasks = data.tasks || [];
  const filtered = q.filters.items.length > 0;
  const head = el('div', { class: 'row' },
    el('span', { class: 'grow hint', id: 'task-total' }, `${lastTotal} ${filtered ? 'matching ' : ''}tasks, ${data.total_annotations ?? 0} annotations`),
    columnChooser(),
    // The export can be narrowed to tasks picked one by one; "all
    // matching" is a query, which the export's ids do not express.
    can('manage projects') ? el('button', { id: 'export', onclick: () => openExportDialog(project, selection.all ? [] : [...selection.ids]) }, 'Export') : null,
    el('a', { class: 'button primary', id: 'label-all', href: `/projects/${project.id}/label` }, 'Label tasks'));
  let body;
  if (tasks.length === 0) {
    body = filtered
      ? el('div', { class: 'card empty', id: 'no-match' }, 'No task matches these filters.')
      : el('div', { class: 'card empty', id: 'no-tasks' }, 'No tasks yet. ',
        can('storages') ? [el('a', { href: `/projects/${project.id}/storage` }, 'Connect an Azure container'), ' and sync it to create one task per file.'] : null);
  } else {
    const visible = shown.filter(c => !state.hidden.includes(c.id));
    const [pageBox, thead] = header(visible);
    const isSelected = (id) => selection.all ? !selection.ids.has(id) : selection.ids.has(id);
    const toggle = (id, on) => {
      if (on === !selection.all) selection.ids.add(id); else selection.ids.delete(id);
    };
    pageBox.checked = tasks.every(t => isSelected(t.id));
    pageBox.addEventListener('change', () => { tasks.forEach(t => toggle(t.id, pageBox.checked)); render(); });
    body = el('table', { id: 'tasks' }, thead,
      el('tbody', {}, tasks.map(t => el('tr', { dataset: { id: t.id } },
        el('td', {}, el('input', { type: 'checkbox', class: 'select-task', checked: isSelected(t.id), onchange: (e) => { toggle(t.id, e.target.checked); render(); } })),
        visible.map(c => el('td', { class: c.cls || '' }, c.cell(t))),
        el('td', {}, markers(t)),
        el('td', {}, el('a', { class: 'button label-task', href: `/projects/${project.id}/label?task=${t.id}` }, 'Label'))))));
  }
  const pages = Math.max(1, Math.ceil(lastTotal / state.pageSize));
  const go = (n) => { state.page = n; render(); };
  const pager = el('div', { class: 'pager', id: 'pager' },
    el('select', { id: 'page-size', onchange: (e) => { state.pageSize = Number(e.target.value); state.page = 1; render(); } },
      [20, 50, 100].map(n => el('option', { value: n, selected: n === state.pageSize }, `${n} per page`))),
    el('button', { disabled: state.page <= 1, onclick: () => go(1) }, 'First'),
    el('button', { disabled: state.page <= 1, onclick: () => go(state.page - 1) }, 'Previous'),
    el('span', { id: 'page-of' }, `Page ${state.page} of ${pages}`),
    el('button', { disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next'),
    el('button', { disabled: state.page >= pages, onclick: () => go(pages) }, 'Last'));
  mount(root, projectTabs(project, 'data'), notes, panel, note || null, head, can('manage projects') ? actionsBar() : null, body, pages > 1 || state.pageSize !== 20 ? pager : null);
}

signedIn().then(async () => {
  project = await loadProject(root);
  if (!project) return;
  const [cols, acts, vs] = await Promise.all([
    api('GET', `/api/dm/columns/?project=${project.id}`),
    api('GET', `/api/dm/actions/?project=${project.id}`),
    api('GET', `/api/dm/views/?project=${project.id}`),
  ]);
  columns = cols.columns.filter(c => operators[c.type]);
  dataKeys = columns.filter(c => c.id.startsWith('data.')).map(c => c.id.slice(5));
  actions = acts;
  views = vs;
  applyView(views.find(v => v.id === state.view) || null);
  // A view may filter data fields the label config does not name.
  for (const f of state.filters) {
    const id = f.filter.replace('filter:tasks:', '');
    if (!columns.some(c => c.id === id)) columns.push({ id, title: id.replace(/^data\./, ''), type: f.type || 'String' });
  }
  if (!views.some(v => v.id === state.view)) state.view = 0;
  state.page = Number(params.get('page')) || 1;
  await render();
}).catch(e => root.replaceChildren(message('error', e.message)));
