// Cloud storage of a project: the Azure source storages it imports tasks
// from and the target storages it exports annotations to, with their sync
// status, an add/edit form whose fields follow the authentication type, a
// connection check, a preview of the files a sync would import, and a live
// progress bar while a sync runs.
import { api, el, message, signedIn, loadProject, projectTabs, formatTime, mount, can, refusal } from './app.js';

const root = document.getElementById('root');
let project;
let pollTimer = null;

// kinds are the two storage directions and their Label Studio API paths.
const kinds = {
  source: {
    title: 'Source storage', plural: 'Source storages',
    blurb: 'Containers whose blobs become tasks.',
    list: (p) => `/api/storages/azure/?project=${p}`,
    create: '/api/storages/azure/',
    one: (id) => `/api/storages/azure/${id}`,
    validate: '/api/storages/azure/validate',
    files: '/api/storages/azure/files',
    sync: (id) => `/api/storages/azure/${id}/sync`,
    cancel: (id) => `/api/storages/azure/${id}/cancel`,
    cors: (id) => `/api/storages/azure/${id}/cors`,
  },
  target: {
    title: 'Target storage', plural: 'Target storages',
    blurb: 'Containers that receive every annotation as JSON.',
    list: (p) => `/api/storages/export/azure?project=${p}`,
    create: '/api/storages/export/azure',
    one: (id) => `/api/storages/export/azure/${id}`,
    validate: '/api/storages/export/azure/validate',
    previewKeys: '/api/storages/export/azure/preview_keys',
    sync: (id) => `/api/storages/export/azure/${id}/sync`,
  },
};

// authTypes lists each way to reach Azure and the fields it needs. Fields
// marked secret are write-only: the API never returns them.
const authTypes = [
  { id: 'account_key', title: 'Account key', fields: ['account_name', 'account_key'] },
  { id: 'sas_token', title: 'SAS token', fields: ['account_name', 'sas_token'] },
  { id: 'connection_string', title: 'Connection string', fields: ['connection_string'], noEndpoint: true },
  { id: 'service_principal', title: 'Service principal (Entra ID app)', fields: ['account_name', 'tenant_id', 'client_id', 'sp_credential', 'authority_host'] },
  { id: 'managed_identity', title: 'Managed identity', fields: ['account_name', 'mi_kind'] },
  { id: 'workload_identity', title: 'Workload identity (AKS)', fields: ['account_name'] },
  { id: 'server_identity', title: "The server's own identity", fields: ['account_name'] },
  { id: 'anonymous', title: 'Anonymous (public container)', fields: ['account_name'] },
];

// operatorAllows ends the hint of every identity attached to the server:
// such a storage is refused unless the operator listed its account and
// container (--server-identity-allow), which a user cannot see from here.
const operatorAllows = 'It works only where the server\'s operator allows it for this account and container (--server-identity-allow).';

const hints = {
  service_principal: 'An app registration with the Storage Blob Data Reader role (Contributor for target storages) on the container or account.',
  managed_identity: `The identity of the Azure resource blobmark runs on; it needs a Storage Blob Data role on the container or account. ${operatorAllows}`,
  workload_identity: `The pod's workload identity (the AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE the AKS webhook sets). ${operatorAllows}`,
  server_identity: `blobmark uses the credentials of the machine it runs on (environment, workload identity, managed identity, Azure CLI). ${operatorAllows}`,
  anonymous: 'Only for containers whose blobs and listing are public.',
};

const secretFields = new Set(['account_key', 'sas_token', 'connection_string', 'client_secret', 'client_certificate', 'client_certificate_password']);

function badge(status) {
  return el('span', { class: `badge ${status || ''}`, dataset: { role: 'status' } }, (status || 'unknown').replaceAll('_', ' '));
}

function active(s) { return s.status === 'queued' || s.status === 'in_progress'; }

function num(v) { return typeof v === 'number' ? v : 0; }

function progress(s) {
  const m = s.meta || {};
  const listed = num(m.keys_listed), created = num(m.tasks_created), failed = num(m.files_failed);
  // The listing streams page by page, so the total is unknown until the sync
  // ends: while it runs the bar moves without claiming a percentage, and the
  // counts below it are the real progress.
  const done = !active(s) && (s.status === 'completed' || s.status === 'completed_with_errors');
  const bar = el('div', { class: 'progress' + (done ? '' : ' indeterminate'), role: 'progressbar', 'aria-label': 'sync progress' }, el('div'));
  if (done) {
    bar.firstChild.style.width = '100%';
    bar.setAttribute('aria-valuenow', '100');
  }
  return el('div', { class: 'sync-progress' }, bar,
    el('div', { class: 'counts' },
      el('span', {}, 'Keys listed ', el('b', { class: 'keys-listed' }, String(listed))),
      el('span', {}, 'Tasks created ', el('b', { class: 'tasks-created' }, String(created))),
      el('span', {}, 'Files failed ', el('b', { class: 'files-failed' }, String(failed)))));
}

function storageCard(kind, s, reload) {
  const k = kinds[kind];
  const out = el('div');
  const act = async (what, fn) => {
    out.replaceChildren();
    // refresh, not this list's reload alone: a sync or an export it starts
    // is then followed until it ends, so the card's counts stay true.
    try { await fn(); await refresh(); } catch (e) { out.replaceChildren(message('error', `${what} failed: ${e.message}`)); }
  };
  const where = `${s.container || '?'}${s.prefix ? '/' + s.prefix : ''}`;
  const m = s.meta || {};
  const showCounts = kind === 'source' && (active(s) || 'keys_listed' in m);
  const total = kind === 'source' ? s.task_count : s.annotation_count;
  return el('div', { class: `card storage ${kind}`, dataset: { id: s.id, kind, status: s.status || '' } },
    el('div', { class: 'row' },
      el('strong', { class: 'grow' }, s.title || `${k.title} #${s.id}`, ' ', el('span', { class: 'hint' }, `azure-blob://${where}`)),
      badge(s.status)),
    // A queued or running sync has cleared last_sync (as Label Studio does):
    // the previous one's time stays in meta. The total is what the storage
    // holds now (tasks from it, annotations in it), whichever sync or export
    // job put it there; the running sync's own counts are in progress().
    el('div', { class: 'hint' },
      'Last sync: ', el('span', { class: 'last-sync' }, formatTime(s.last_sync || m.previous_sync)),
      total != null ? [' · ', el('b', { class: 'total' }, String(total)), kind === 'source' ? ' tasks' : ' annotations'] : '',
      s.auth_type ? ` · ${(authTypes.find(a => a.id === s.auth_type) || { title: s.auth_type }).title}` : ''),
    showCounts ? progress(s) : null,
    kind === 'target' && s.dataset_format ? datasetLine(s) : null,
    // The last sync's CORS verdict: presigned media that the account's
    // rules keep from loading is a blank image for every annotator.
    m.cors && m.cors.status !== 'present' ? message('warn', m.cors.message, { dataset: { cors: m.cors.status } }) : null,
    s.traceback && !active(s) ? el('pre', { class: 'traceback' }, s.traceback) : null,
    out,
    el('div', { class: 'row', style: 'margin-top:8px' },
      active(s) && k.cancel
        ? el('button', { class: 'danger cancel-sync', onclick: () => act('Cancel', () => api('POST', k.cancel(s.id))) }, 'Cancel sync')
        : el('button', { class: 'sync', disabled: active(s), onclick: () => act('Sync', () => api('POST', k.sync(s.id))) }, kind === 'source' ? 'Sync' : 'Export all'),
      el('button', { class: 'edit', onclick: () => showForm(kind, s) }, 'Edit'),
      el('button', { class: 'danger delete', onclick: () => {
        if (confirm(`Delete ${k.title.toLowerCase()} "${s.title || s.id}"? ${kind === 'source' ? 'Its tasks stay in the project.' : 'Exported blobs stay in the container.'}`)) act('Delete', () => api('DELETE', k.one(s.id)));
      } }, 'Delete')));
}

async function section(kind) {
  const k = kinds[kind];
  const box = el('section', { id: `${kind}-storages` });
  const reload = async () => {
    let list;
    try {
      list = await api('GET', k.list(project.id));
    } catch (e) {
      box.replaceChildren(el('h2', {}, k.plural), message('error', e.status === 404
        ? `This server does not offer ${k.plural.toLowerCase()} yet.`
        : `The ${k.plural.toLowerCase()} could not be loaded: ${e.message}`));
      return [];
    }
    list = Array.isArray(list) ? list : (list.results || []);
    mount(box,
      el('div', { class: 'row' }, el('h2', { class: 'grow' }, k.plural),
        el('button', { class: 'primary', id: `add-${kind}`, onclick: () => showForm(kind, null) }, `Add ${k.title.toLowerCase()}`)),
      el('p', { class: 'hint' }, k.blurb),
      list.length === 0
        ? el('div', { class: 'card empty', id: `no-${kind}-storage` }, kind === 'source'
          ? 'No source storage yet. Add an Azure container to create tasks from its files.'
          : 'No target storage yet. Add one to write every annotation to an Azure container.')
        : list.map(s => storageCard(kind, s, refresh)));
    return list;
  };
  box.reload = reload;
  return box;
}

let sections = [];
async function refresh() {
  clearTimeout(pollTimer);
  const lists = await Promise.all(sections.map(s => s.reload()));
  if (lists.flat().some(active)) pollTimer = setTimeout(refresh, 1000);
}

// --- the add/edit form ---

const formHost = el('div', { id: 'storage-form-host' });

// datasetLine says where a target storage's dataset export goes and how
// its latest run went.
function datasetLine(s) {
  const d = s.dataset_state || {};
  return el('div', { class: 'hint dataset-state', dataset: { status: d.status || '' } },
    `Dataset export (${s.dataset_format}): `, d.status ? badge(d.status) : 'not run yet',
    d.key ? [' ', el('code', {}, d.key)] : '',
    d.status === 'completed' ? ` · ${d.bytes} bytes · ${formatTime(d.finished_at)}` : '',
    d.error ? el('pre', { class: 'traceback' }, d.error) : null);
}

function input(name, attrs = {}) {
  const secret = secretFields.has(name);
  const tag = name === 'connection_string' || name === 'client_certificate' || name === 'sas_token' ? 'textarea' : 'input';
  const e = el(tag, { name, id: `f-${name}`, type: tag === 'input' ? (secret ? 'password' : 'text') : undefined, autocomplete: secret ? 'new-password' : 'off', ...attrs });
  if (tag === 'textarea') e.style.minHeight = '70px';
  return e;
}

// names splits a comma-separated list of metadata names or tag keys.
function names(text) {
  return text.split(',').map(x => x.trim()).filter(Boolean);
}

function field(label, control, hint) {
  return el('label', { class: 'field', dataset: { field: control.name || '' } }, el('span', {}, label, hint ? el('small', {}, ` ${hint}`) : null), control);
}

function showForm(kind, existing) {
  const k = kinds[kind];
  const editing = !!existing;
  const e = existing || {};
  const stored = (name) => editing && secretFields.has(name) ? { placeholder: 'Stored; leave blank to keep it' } : {};
  const f = {
    title: input('title', { value: e.title || '' }),
    auth_type: el('select', { name: 'auth_type', id: 'f-auth_type' }, authTypes.map(a => el('option', { value: a.id, selected: (e.auth_type || 'account_key') === a.id }, a.title))),
    cloud: el('select', { name: 'cloud', id: 'f-cloud' },
      el('option', { value: 'public' }, 'Azure (public cloud)'), el('option', { value: 'china' }, 'Azure China'),
      el('option', { value: 'usgov' }, 'Azure US Government'), el('option', { value: 'custom' }, 'Custom endpoint (private endpoint, Azurite, …)')),
    endpoint: input('endpoint', { value: e.endpoint || '', placeholder: 'https://account.blob.core.windows.net/' }),
    account_name: input('account_name', { value: e.account_name || '' }),
    account_key: input('account_key', stored('account_key')),
    sas_token: input('sas_token', { placeholder: editing ? 'Stored; leave blank to keep it' : 'sv=…&sig=…' }),
    connection_string: input('connection_string', { placeholder: editing ? 'Stored; leave blank to keep it' : 'DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…' }),
    tenant_id: input('tenant_id', { value: e.tenant_id || '' }),
    client_id: input('client_id', { value: e.client_id || '' }),
    sp_credential: el('select', { name: 'sp_credential', id: 'f-sp_credential' }, el('option', { value: 'secret' }, 'Client secret'), el('option', { value: 'certificate' }, 'Certificate')),
    client_secret: input('client_secret', stored('client_secret')),
    client_certificate: input('client_certificate', { placeholder: editing ? 'Stored; leave blank to keep it' : '-----BEGIN CERTIFICATE----- … -----BEGIN PRIVATE KEY----- …' }),
    client_certificate_password: input('client_certificate_password', stored('client_certificate_password')),
    authority_host: input('authority_host', { value: e.authority_host || '', placeholder: 'default for the cloud' }),
    mi_kind: el('select', { name: 'mi_kind', id: 'f-mi_kind' },
      el('option', { value: 'system' }, 'System-assigned'), el('option', { value: 'managed_identity_client_id' }, 'User-assigned, by client id'),
      el('option', { value: 'managed_identity_resource_id' }, 'User-assigned, by resource id'), el('option', { value: 'managed_identity_object_id' }, 'User-assigned, by object id')),
    mi_id: input('mi_id'),
    container: input('container', { value: e.container || '' }),
    prefix: input('prefix', { value: e.prefix || '' }),
    regex_filter: input('regex_filter', { value: e.regex_filter || '', placeholder: '.*\\.(jpe?g|png)$' }),
    tag_filter: input('tag_filter', { value: e.tag_filter || '', placeholder: `"split" = 'train' AND "camera" = 'c1'` }),
    metadata_keys: input('metadata_keys', { value: (e.metadata_keys || []).join(', '), placeholder: 'camera, site (or * for all)' }),
    tag_keys: input('tag_keys', { value: (e.tag_keys || []).join(', '), placeholder: 'split, customer (or * for all)' }),
    recursive_scan: el('input', { type: 'checkbox', name: 'recursive_scan', id: 'f-recursive_scan', checked: editing ? !!e.recursive_scan : true }),
    use_blob_urls: el('input', { type: 'checkbox', name: 'use_blob_urls', id: 'f-use_blob_urls', checked: editing ? !!e.use_blob_urls : true }),
    presign: el('input', { type: 'checkbox', name: 'presign', id: 'f-presign', checked: editing ? e.presign !== false : true }),
    presign_ttl: el('input', { type: 'number', name: 'presign_ttl', id: 'f-presign_ttl', min: '1', max: '10080', value: String(e.presign_ttl || 15) }),
    can_delete_objects: el('input', { type: 'checkbox', name: 'can_delete_objects', id: 'f-can_delete_objects', checked: !!e.can_delete_objects }),
    key_template: input('key_template', { value: e.key_template || '', placeholder: 'the annotation id (e.g. {data.image_name} or labels/{source_stem})' }),
    dataset_format: el('select', { name: 'dataset_format', id: 'f-dataset_format' }, el('option', { value: '' }, 'No dataset export')),
    dataset_key_template: input('dataset_key_template', { value: e.dataset_key_template || '', placeholder: 'dataset-{project_id}-{format}' }),
    dataset_interval_minutes: el('input', { type: 'number', name: 'dataset_interval_minutes', id: 'f-dataset_interval_minutes', min: '0', max: '525600',
      value: String(e.dataset_interval_minutes || 0) }),
  };
  // The formats come from the project's format list; those that do not fit
  // its label config are shown disabled, with the reason as their tooltip.
  if (kind === 'target') {
    api('GET', `/api/projects/${project.id}/export/formats`).then(list => {
      for (const x of list || []) {
        f.dataset_format.append(el('option', { value: x.name, disabled: !!x.disabled, title: x.description || '',
          selected: x.name === e.dataset_format }, x.disabled ? `${x.title} (does not fit this project)` : x.title));
      }
    }).catch(() => {});
  }
  if (e.cloud && ['china', 'usgov'].includes(e.cloud)) f.cloud.value = e.cloud;
  if (e.endpoint) f.cloud.value = 'custom';
  for (const kind of ['managed_identity_client_id', 'managed_identity_resource_id', 'managed_identity_object_id']) {
    if (e[kind]) { f.mi_kind.value = kind; f.mi_id.value = e[kind]; }
  }

  const rows = {
    endpoint: field('Blob endpoint', f.endpoint, 'the service URL, for private endpoints, sovereign clouds or the emulator'),
    account_name: field('Storage account name', f.account_name),
    account_key: field('Account key', f.account_key),
    sas_token: field('SAS token', f.sas_token, 'container or account SAS with read and list (create, write and delete for a target)'),
    connection_string: field('Connection string', f.connection_string),
    tenant_id: field('Tenant id', f.tenant_id),
    client_id: field('Client id', f.client_id),
    sp_credential: field('Credential', f.sp_credential),
    client_secret: field('Client secret', f.client_secret),
    client_certificate: field('Certificate and private key (PEM)', f.client_certificate),
    client_certificate_password: field('Certificate password', f.client_certificate_password, '(if the key is encrypted)'),
    authority_host: field('Authority host', f.authority_host, '(optional)'),
    mi_kind: field('Identity', f.mi_kind),
    mi_id: field('Identity id', f.mi_id),
  };
  const cloudRow = field('Cloud', f.cloud);
  const authHint = el('p', { class: 'hint', id: 'auth-hint' });

  const update = () => {
    const at = authTypes.find(a => a.id === f.auth_type.value);
    const show = new Set(at.fields);
    if (show.has('sp_credential')) {
      if (f.sp_credential.value === 'secret') show.add('client_secret');
      else { show.add('client_certificate'); show.add('client_certificate_password'); }
    }
    if (show.has('mi_kind') && f.mi_kind.value !== 'system') show.add('mi_id');
    cloudRow.classList.toggle('hidden', !!at.noEndpoint);
    const custom = !at.noEndpoint && f.cloud.value === 'custom';
    show[custom ? 'add' : 'delete']('endpoint');
    for (const [name, row] of Object.entries(rows)) row.classList.toggle('hidden', !show.has(name));
    authHint.textContent = hints[at.id] || '';
  };
  for (const c of [f.auth_type, f.sp_credential, f.mi_kind, f.cloud]) c.addEventListener('change', update);

  // body collects the visible fields; blank secrets are left out so an edit
  // keeps the stored ones.
  const body = () => {
    const b = { project: project.id, title: f.title.value, auth_type: f.auth_type.value, container: f.container.value, prefix: f.prefix.value };
    if (!cloudRow.classList.contains('hidden') && ['china', 'usgov'].includes(f.cloud.value)) b.cloud = f.cloud.value;
    for (const [name, row] of Object.entries(rows)) {
      if (row.classList.contains('hidden') || ['sp_credential', 'mi_kind', 'mi_id'].includes(name)) continue;
      const v = f[name].value.trim();
      if (secretFields.has(name) && v === '') continue;
      b[name] = v;
    }
    if (editing && rows.endpoint.classList.contains('hidden')) b.endpoint = '';
    if (!rows.mi_id.classList.contains('hidden')) b[f.mi_kind.value] = f.mi_id.value.trim();
    if (kind === 'source') {
      Object.assign(b, { regex_filter: f.regex_filter.value, recursive_scan: f.recursive_scan.checked, use_blob_urls: f.use_blob_urls.checked,
        presign: f.presign.checked, presign_ttl: Number(f.presign_ttl.value) || 15, tag_filter: f.tag_filter.value.trim(),
        metadata_keys: names(f.metadata_keys.value), tag_keys: names(f.tag_keys.value) });
    } else {
      Object.assign(b, { can_delete_objects: f.can_delete_objects.checked, key_template: f.key_template.value.trim(),
        dataset_format: f.dataset_format.value || null, dataset_key_template: f.dataset_key_template.value.trim(),
        dataset_interval_minutes: Number(f.dataset_interval_minutes.value) || 0 });
    }
    if (editing) b.id = existing.id;
    return b;
  };

  const result = el('div', { id: 'form-result' });
  const filesBox = el('div', { id: 'files-preview' });
  const show = (kindOf, text, id) => result.replaceChildren(message(kindOf, text, { id }));
  const busy = async (btn, fn) => {
    const all = form.querySelectorAll('button');
    all.forEach(b => { b.disabled = true; });
    try { await fn(); } finally { all.forEach(b => { b.disabled = false; }); }
  };

  // A check's or a preview's answer is about the fields as they were: any
  // edit clears it, and an answer arriving after an edit is dropped.
  let edits = 0;
  const outdated = () => { edits++; result.replaceChildren(); filesBox.replaceChildren(); keysBox.replaceChildren(); };
  const check = (btn) => busy(btn, async () => {
    const asked = edits;
    show('info', 'Checking the connection…', 'check-pending');
    try {
      const r = await api('POST', k.validate, body());
      if (asked !== edits) return;
      show('ok', kind === 'source' ? 'Connection works: blobmark can list and read this container.' : 'Connection works: blobmark can write to this container.', 'check-ok');
      if (r && r.cors && (r.cors.status === 'present' || (r.warnings || []).length)) result.append(corsVerdict(r.cors, r.warnings || []));
    } catch (e) { if (asked === edits) show('error', e.message, 'check-error'); }
  });
  // corsVerdict shows whether the browser may load this storage's media
  // with presigned URLs (the account's CORS rules decide), and offers to
  // add the missing rule to a saved storage. Media that is not presigned
  // comes with no warning, and is not shown one.
  const corsVerdict = (c, warnings) => {
    if (c.status === 'present') return message('ok', `Presigned media loads from ${c.origin}: the storage account's CORS rules allow it.`, { id: 'cors-ok' });
    const box = el('div', { id: 'cors-verdict' });
    const outcome = el('div', { id: 'cors-outcome' });
    const add = (btn) => busy(btn, async () => {
      outcome.replaceChildren(message('info', 'Adding the CORS rule…'));
      try {
        const after = await api('POST', k.cors(existing.id));
        outcome.replaceChildren(message('ok', `Added a CORS rule for ${after.origin}: presigned media now loads.`, { id: 'cors-added' }));
      } catch (e) { outcome.replaceChildren(message('error', e.message, { id: 'cors-error' })); }
    });
    mount(box,
      message('warn', warnings[0], { id: 'cors-warning' }),
      editing ? el('button', { type: 'button', id: 'add-cors', onclick: (ev) => add(ev.target) }, `Add CORS rule for ${c.origin}`)
        : el('div', { class: 'hint' }, 'Save the storage to add the rule from here.'),
      c.command ? el('div', { class: 'hint' }, 'Or, with a role that may change the storage account: ', el('pre', { class: 'command', id: 'cors-command' }, c.command)) : null,
      outcome);
    return box;
  };
  const preview = (btn) => busy(btn, async () => {
    const asked = edits;
    filesBox.replaceChildren(message('info', 'Listing…'));
    try {
      const r = await api('POST', k.files, { ...body(), limit: 20 });
      if (asked !== edits) return;
      const files = (r && r.files) || [];
      const shown = files.filter(x => x.key !== null);
      mount(filesBox, shown.length === 0
        ? message('info', 'No file matches the prefix and filter.', { id: 'no-files' })
        : el('div', {}, el('strong', {}, 'First matching files'),
          el('ul', { class: 'files' }, shown.map(x => el('li', {}, x.key, el('span', { class: 'hint' }, x.size != null ? ` (${x.size} bytes)` : '')))),
          files.length > shown.length ? el('div', { class: 'hint' }, '… and more') : null));
    } catch (e) {
      if (asked === edits) filesBox.replaceChildren(message('error', e.status === 404 && e.body.detail === 'Not found.'
        ? 'This server cannot preview files yet.' : e.message, { id: 'files-error' }));
    }
  });
  // previewKeys renders the key templates on a real task of the project.
  const keysBox = el('div', { id: 'keys-preview' });
  const previewKeys = (btn) => busy(btn, async () => {
    const asked = edits;
    keysBox.replaceChildren(message('info', 'Rendering…'));
    try {
      const r = await api('POST', k.previewKeys, body());
      if (asked !== edits) return;
      mount(keysBox, el('div', {},
        r.object_key_error
          ? message('error', r.object_key_error, { id: 'object-key-error' })
          : el('div', {}, `Task ${r.task}${r.annotation ? `, annotation ${r.annotation}` : ''} is written to `, el('code', { id: 'object-key' }, r.object_key)),
        r.dataset_key ? el('div', {}, 'The dataset export is written to ', el('code', { id: 'dataset-key' }, r.dataset_key)) : null));
    } catch (e) { if (asked === edits) keysBox.replaceChildren(message('error', e.message, { id: 'keys-error' })); }
  });
  const save = (btn, andSync) => busy(btn, async () => {
    result.replaceChildren();
    try {
      const b = body();
      delete b.id;
      const saved = editing ? await api('PATCH', k.one(existing.id), b) : await api('POST', k.create, b);
      if (andSync) await api('POST', k.sync(saved.id));
      formHost.replaceChildren();
      await refresh();
    } catch (e) { show('error', e.message, 'save-error'); }
  });

  const form = el('form', { class: 'card', id: 'storage-form', dataset: { kind }, onsubmit: (ev) => { ev.preventDefault(); save(null, false); } },
    el('h2', {}, `${editing ? 'Edit' : 'Add'} ${k.title.toLowerCase()}`),
    field('Title', f.title),
    field('Authentication', f.auth_type), authHint,
    cloudRow, Object.values(rows),
    field('Container', f.container),
    field('Prefix', f.prefix, '(optional, e.g. images/)'),
    kind === 'source' ? [
      field('File filter', f.regex_filter, '(optional regular expression on the blob name)'),
      field('Index tag filter', f.tag_filter, '(optional) only the blobs whose index tags match; needs the filter permission (SAS f, or Storage Blob Data Owner)'),
      el('label', { class: 'check' }, f.recursive_scan, 'Scan sub-folders under the prefix'),
      el('label', { class: 'check' }, f.use_blob_urls, 'One task per file (images, audio, …); unchecked: each blob is a JSON/JSONL file of tasks'),
      field('Copy blob metadata', f.metadata_keys, '(optional, one task per file only) names, comma-separated, into data.blob_metadata'),
      field('Copy index tags', f.tag_keys, '(optional, one task per file only) keys, comma-separated, into data.blob_tags; needs the tag permission (SAS t, or Storage Blob Data Owner)'),
      el('label', { class: 'check' }, f.presign, 'Send the browser to the blob with a short-lived SAS URL (unchecked: blobmark streams it)'),
      field('SAS URL lifetime, minutes', f.presign_ttl),
    ] : [
      el('label', { class: 'check' }, f.can_delete_objects, 'Delete the exported blob when an annotation is deleted'),
      field('Object name', f.key_template, '(optional) {task_id}, {annotation_id}, {data.<field>}, {source_key}, {source_name}, {source_stem}; .json is added'),
      field('Dataset export', f.dataset_format, 'each sync also writes the whole project in this format as one object'),
      field('Dataset object name', f.dataset_key_template, '{project_id}, {storage_id}, {format}, {timestamp}; the extension is added'),
      field('Dataset export every, minutes', f.dataset_interval_minutes, '0: only with each sync; else also on this schedule, up to 525600 (a year)'),
    ],
    result, filesBox, kind === 'target' ? keysBox : null,
    el('div', { class: 'row' },
      el('button', { type: 'button', id: 'check-connection', onclick: (ev) => check(ev.target) }, 'Check connection'),
      kind === 'source' ? el('button', { type: 'button', id: 'preview-files', onclick: (ev) => preview(ev.target) }, 'Preview files')
        : el('button', { type: 'button', id: 'preview-keys', onclick: (ev) => previewKeys(ev.target) }, 'Preview names'),
      el('span', { class: 'grow' }),
      el('button', { type: 'button', onclick: () => formHost.replaceChildren() }, 'Cancel'),
      el('button', { type: 'submit', id: 'save-storage' }, 'Save'),
      kind === 'source' ? el('button', { type: 'button', class: 'primary', id: 'save-sync', onclick: (ev) => save(ev.target, true) }, 'Save and sync') : null));
  form.addEventListener('input', outdated);
  form.addEventListener('change', outdated);
  update();
  formHost.replaceChildren(form);
  form.scrollIntoView({ block: 'start' });
  f.title.focus();
}

async function main() {
  await signedIn();
  // Storages hold credentials: a role without the permission gets no
  // request for them at all.
  if (!can('storages')) {
    root.replaceChildren(refusal('see or change cloud storage'), el('a', { href: '/projects/' }, 'Back to the projects'));
    return;
  }
  project = await loadProject(root);
  if (!project) return;
  sections = await Promise.all([section('source'), section('target')]);
  root.replaceChildren(...projectTabs(project, 'storage'), formHost, ...sections);
  await refresh();
}

main().catch(e => root.replaceChildren(message('error', e.message)));
