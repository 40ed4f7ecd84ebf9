// Shared helpers of the web UI: API calls with the session's CSRF token,
// DOM building without innerHTML, the signed-in header and project tabs.

// ApiError is a failed API answer, with Label Studio's error envelope.
export class ApiError extends Error {
  constructor(status, body) {
    super(errorMessage(status, body));
    this.status = status;
    this.body = body || {};
  }
  // fieldErrors returns validation_errors ({field: [messages]}) or {}.
  get fieldErrors() { return this.body.validation_errors || {}; }
}

function errorMessage(status, body) {
  if (!body || typeof body !== 'object') return `The server answered ${status}.`;
  const parts = [];
  const ve = body.validation_errors || {};
  for (const [field, msgs] of Object.entries(ve)) {
    const text = Array.isArray(msgs) ? msgs.join(' ') : String(msgs);
    parts.push(field === 'non_field_errors' ? text : `${field}: ${text}`);
  }
  if (parts.length) return parts.join('\n');
  return body.detail || body.message || `The server answered ${status}.`;
}

export function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

// api sends a request to the API with the session cookie and, for writes,
// the CSRF token. It resolves to the decoded JSON (null when empty) and
// rejects with ApiError. A 401 sends the visitor to the sign-in page.
export async function api(method, path, body, { redirectOn401 = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = cookie('blobmark_csrf');
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { detail: `The server could not be reached: ${e.message}` });
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 300) }; }
  }
  if (r.status === 401 && redirectOn401) {
    location.assign('/user/login/?next=' + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, data);
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// el builds an element: el('a', {href, class, onclick}, child, ...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// message returns a message box ('error', 'ok' or 'info').
export function message(kind, text, attrs = {}) {
  return el('div', { class: `msg ${kind}`, role: kind === 'error' ? 'alert' : 'status', ...attrs }, text);
}

// formatTime shows an API timestamp in the visitor's locale.
export function formatTime(s) {
  if (!s) return 'never';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

// projectID is the {id} of /projects/{id}/... pages.
export function projectID() {
  const m = location.pathname.match(/^\/projects\/(\d+)\//);
  return m ? Number(m[1]) : 0;
}

// me is the signed-in user as whoami answered, with its role's permissions.
let me = null;

// can reports whether the signed-in user's role grants a permission (the
// names of blobmark's permission table: 'label', 'review', 'manage
// projects', 'storages', 'host identity storages', 'manage members'). The
// pages hide what the role cannot use; the API refuses it anyway.
export function can(permission) {
  return !!me && (me.permissions || []).includes(permission);
}

// roles are the roles as whoami lists them, most powerful first:
// {code, name, assignable} (assignable: the signed-in user may give it to
// a member who is not an owner). Empty until signedIn resolves.
export let roles = [];

// roleName is the name of a role code.
export function roleName(code) {
  return (roles.find(r => r.code === code) || { name: code }).name;
}

// signedIn checks the session and draws the top bar; it sends a signed-out
// visitor to the sign-in page.
export async function signedIn() {
  const user = await api('GET', '/api/current-user/whoami');
  me = user;
  roles = user.roles || [];
  const bar = el('header', { class: 'top' },
    el('a', { class: 'brand', href: '/projects/' }, 'blobmark'),
    el('a', { href: '/projects/', id: 'nav-projects' }, 'Projects'),
    can('manage members') ? el('a', { href: '/organization/members/', id: 'nav-members' }, 'Members') : null,
    el('span', { class: 'spacer' }),
    el('a', { href: '/user/account/', id: 'whoami', title: 'Your account: name, password and API tokens' }, user.email),
    el('span', { class: 'badge', id: 'my-role' }, roleName(user.role)),
    el('button', { id: 'sign-out', onclick: signOut }, 'Sign out'));
  document.body.prepend(bar);
  return user;
}

// shownOnce returns a read-only field holding a secret the server shows
// only once (an invitation link, an API token) and a Copy button; id names
// the field, and the button is id + '-copy'.
export function shownOnce(value, id) {
  const field = el('input', { type: 'text', id, readonly: true, value, class: 'grow', spellcheck: 'false' });
  const copied = el('span', { class: 'hint' });
  return el('div', { class: 'row' }, field, el('button', { type: 'button', id: `${id}-copy`, onclick: async () => {
    field.select();
    try { await navigator.clipboard.writeText(field.value); copied.textContent = 'Copied.'; } catch { copied.textContent = 'Press Ctrl+C to copy.'; }
  } }, 'Copy'), copied);
}

// landing is the path a signed-in user starts from: a member who labels
// but does not manage projects (annotators, reviewers), in exactly one
// project, starts on its label stream; everyone else on the project list.
export async function landing() {
  const user = me || await api('GET', '/api/current-user/whoami');
  if ((user.permissions || []).includes('manage projects')) return '/projects/';
  const data = await api('GET', '/api/projects/?page=1&page_size=2');
  return data.count === 1 ? `/projects/${data.results[0].id}/label` : '/projects/';
}

// refusal is the page's answer when the role may not use it.
export function refusal(what) {
  return message('error', `Your role (${roleName(me && me.role)}) cannot ${what}. Ask an administrator of your organization if you need to.`, { id: 'refused' });
}

async function signOut() {
  try { await api('POST', '/api/auth/logout'); } finally { location.assign('/user/login/'); }
}

// projectTabs draws the project's title and its tabs, 'label', 'data',
// 'storage', 'settings', marking the active one; a role sees the tabs it
// can use. Annotators work from the label stream, as in Label Studio: the
// task table, with its counts of everyone's work, is for reviewers up.
export function projectTabs(project, active) {
  const tab = (name, label) => el('a', { href: `/projects/${project.id}/${name}`, class: name === active ? 'active' : '' }, label);
  return [
    el('h1', {}, project.title || `Project ${project.id}`),
    el('nav', { class: 'tabs' }, tab('label', 'Label'),
      can('review') ? tab('data', 'Tasks') : null,
      can('storages') ? tab('storage', 'Cloud storage') : null,
      can('manage projects') ? tab('settings', 'Settings') : null),
  ];
}

// loadProject fetches the project of the page, or shows why it cannot.
export async function loadProject(root) {
  const id = projectID();
  try {
    return await api('GET', `/api/projects/${id}/`);
  } catch (e) {
    root.replaceChildren(message('error', e.status === 404
      ? `Project ${id} does not exist (it may have been deleted).`
      : `The project could not be loaded: ${e.message}`),
    el('a', { href: '/projects/' }, 'Back to the projects'));
    return null;
  }
}

// templates are the labeling configurations a project can start from.
export const templates = [
  {
    id: 'image-bbox', title: 'Image: bounding boxes',
    config: `<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">
    <Label value="Object" background="red"/>
    <Label value="Person" background="blue"/>
  </RectangleLabels>
</View>`,
  },
  {
    id: 'image-class', title: 'Image: classification',
    config: `<View>
  <Image name="image" value="$image"/>
  <Choices name="choice" toName="image" choice="single">
    <Choice value="Yes"/>
    <Choice value="No"/>
  </Choices>
</View>`,
  },
  {
    id: 'text-class', title: 'Text: classification',
    config: `<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>`,
  },
];

// configEditor returns a template picker and an XML textarea; the
// validation error of label_config shows right under the textarea.
export function configEditor(initial) {
  const area = el('textarea', { name: 'label_config', id: 'label-config', spellcheck: 'false' });
  area.value = initial || templates[0].config;
  const match = templates.find(t => t.config === area.value);
  const picker = el('select', { id: 'template', onchange: () => {
    const t = templates.find(t => t.id === picker.value);
    if (t) area.value = t.config;
  } },
  el('option', { value: '' }, 'Custom XML'),
  templates.map(t => el('option', { value: t.id, selected: match && match.id === t.id }, t.title)));
  area.addEventListener('input', () => { picker.value = templates.find(t => t.config === area.value)?.id || ''; });
  const error = el('div', { id: 'label-config-error', class: 'msg error hidden', role: 'alert' });
  return {
    nodes: [
      el('label', { class: 'field' }, el('span', {}, 'Labeling template'), picker),
      el('label', { class: 'field' }, el('span', {}, 'Labeling configuration (XML)'), area),
      error,
    ],
    value: () => area.value,
    showError(text) { error.textContent = text || ''; error.classList.toggle('hidden', !text); },
  };
}

// mount replaces parent's children with the given nodes, flattening arrays
// and leaving out null, undefined and false.
export function mount(parent, ...children) {
  parent.replaceChildren(...children.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false));
}
