// Drives the teams flow in Debian's Chromium with playwright-core: an
// administrator makes an invitation link for an annotator with one
// project; in a second browser context (another person) the link signs the
// annotator up, who labels a task of that project, then finds neither the
// storage page nor another project, through the UI or the API. Every step
// leaves a screenshot in $ARTIFACTS; the last line on stdout is a JSON
// report that teams_test.go checks; progress goes to stderr.
import { env, scenario } from './harness.mjs';

const project = Number(env('PROJECT_ID'));
const other = Number(env('OTHER_PROJECT_ID'));

await scenario('teams', async (h) => {
  const { base, report, step } = h;
  report.api = {};
  const admin = await h.newPage('admin');
  let inviteURL;

  await step('admin-signed-in', admin, async () => {
    await h.signIn(admin, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
    await admin.waitForSelector('#create-project');
  });

  await step('invite-link', admin, async () => {
    await Promise.all([admin.waitForURL(`${base}/organization/members/`), admin.click('#nav-members')]);
    await admin.waitForSelector('#members tbody tr');
    await admin.selectOption('#invite-role', 'AN');
    await admin.check(`.invite-project[value="${project}"]`);
    await admin.click('#create-invite');
    const link = await admin.waitForSelector('#invite-url');
    inviteURL = await link.inputValue();
    if (!inviteURL.startsWith(`${base}/user/signup/?token=`)) throw new Error(`the invite link is ${inviteURL}`);
    await admin.waitForSelector('#invites tbody tr');
  });

  // Another person, in a browser context of their own.
  const ann = await h.newPage('annotator');

  await step('signup', ann, async () => {
    await ann.goto(inviteURL);
    const role = await (await ann.waitForSelector('#invite-role')).textContent();
    if (role !== 'Annotator') throw new Error(`the sign-up page offers the role ${role}`);
    await ann.fill('#email', env('ANNOTATOR_EMAIL'));
    await ann.fill('#first-name', 'Nina');
    await ann.fill('#password', env('ANNOTATOR_PASSWORD'));
    // A member of one project who only labels lands on its label stream.
    await Promise.all([ann.waitForURL(`${base}/projects/${project}/label`), ann.click('#sign-up')]);
    report.landedOn = new URL(ann.url()).pathname;
    report.myRole = await ann.locator('#my-role').textContent();
  });

  await step('labeled', ann, async () => {
    await ann.waitForFunction(() => window.Htx && window.Htx.annotationStore && window.Htx.annotationStore.selected, null, { timeout: 60_000 });
    // The editor shows the choice with its hotkey: "Positive[1]".
    await ann.getByText('Positive').first().click();
    await ann.waitForFunction(() => window.Htx.annotationStore.selected.serializeAnnotation().length > 0);
    await ann.click('button[aria-label="submit"]');
    await ann.waitForFunction(() => document.body.dataset.lastAnnotation, null, { timeout: 30_000 });
    report.annotationId = Number(await ann.evaluate(() => document.body.dataset.lastAnnotation));
    if (await ann.locator('nav.tabs a[href$="/storage"]').count() > 0) throw new Error('the labeling page offers the storage tab');
  });

  await step('project-list', ann, async () => {
    await Promise.all([ann.waitForURL(`${base}/projects/`), ann.click('#nav-projects')]);
    await ann.waitForSelector('.project-link');
    const links = await ann.locator('.project-link').count();
    if (links !== 1) throw new Error(`the annotator sees ${links} projects, want 1`);
    const primary = await ann.locator('a.button.primary.label-project').getAttribute('href');
    if (primary !== `/projects/${project}/label`) throw new Error(`the annotator's primary action is ${primary}`);
    for (const hidden of ['#create-project', '#nav-members', 'a[href$="/storage"]', 'a[href$="/settings"]', 'a[href$="/data"]']) {
      if (await ann.locator(hidden).count() > 0) throw new Error(`the annotator's project list shows ${hidden}`);
    }
    // "/" lands on the label stream too.
    await ann.goto(`${base}/`);
    await ann.waitForURL(`${base}/projects/${project}/label`);
  });

  await step('account-token', ann, async () => {
    await Promise.all([ann.waitForURL(`${base}/user/account/`), ann.click('#whoami')]);
    await ann.waitForSelector('div#tokens.hint');
    await ann.fill('#last-name', 'Ivanova');
    await ann.click('#save-profile');
    await ann.waitForSelector('#profile-status .msg.ok');
    await ann.click('#create-token');
    const pat = await (await ann.waitForSelector('#new-token')).inputValue();
    await ann.waitForSelector('#new-token-copy');
    const jti = JSON.parse(Buffer.from(pat.split('.')[1], 'base64url').toString()).jti;
    const refresh = async () => (await fetch(`${base}/api/token/refresh/`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh: pat }) })).status;
    const account = { refreshWhileListed: await refresh() };
    await ann.waitForSelector('#tokens tbody tr');
    account.listed = await ann.locator('#tokens tbody tr').allTextContents();
    account.jtiPrefix = jti.slice(0, 8);
    // Shown once: a fresh visit lists the token but no longer shows it.
    await ann.reload();
    await ann.waitForSelector('#tokens tbody tr');
    account.shownAgain = await ann.locator('#new-token').count();
    account.pageHasToken = (await ann.content()).includes(pat);
    ann.once('dialog', (d) => d.accept());
    await ann.click('#tokens .revoke-token');
    await ann.waitForSelector('div#tokens.hint');
    account.refreshAfterRevoke = await refresh();
    report.account = account;
  });

  const before = report.requests.length;
  await step('storage-refused', ann, async () => {
    await ann.goto(`${base}/projects/${project}/storage`);
    await ann.waitForSelector('#refused');
    await ann.goto(`${base}/projects/${other}/storage`);
    await ann.waitForSelector('#refused');
    report.storagePageText = await ann.locator('main').textContent();
    report.storageRequests = report.requests.slice(before).filter(r => r.includes('/api/storages'));
  });

  await step('other-project-refused', ann, async () => {
    h.expectedFailure = true;
    await ann.goto(`${base}/projects/${other}/data`);
    await ann.waitForSelector('main .msg.error');
    report.otherProjectText = await ann.locator('main').textContent();
    // The API refuses too, whatever the page would show.
    report.api = await ann.evaluate(async ({ project, other }) => {
      const csrf = (document.cookie.split('; ').find(c => c.startsWith('blobmark_csrf=')) || '=').split('=')[1];
      const call = async (method, path, body) => (await fetch(path, { method, credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf }, body: body && JSON.stringify(body) })).status;
      return {
        storagesOfOwnProject: await call('GET', `/api/storages/azure/?project=${project}`),
        exportStoragesOfOwnProject: await call('GET', `/api/storages/export/azure?project=${project}`),
        otherProject: await call('GET', `/api/projects/${other}/`),
        otherProjectTasks: await call('GET', `/api/tasks/?project=${other}`),
        createStorage: await call('POST', '/api/storages/azure/', { project, container: 'c', account_name: 'a', account_key: 'k' }),
        users: await call('GET', '/api/users/'),
        invite: await call('POST', '/api/invites/', { role: 'OW' }),
      };
    }, { project, other });
    h.expectedFailure = false;
  });
});
