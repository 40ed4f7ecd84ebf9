// Drives blobmark's web UI in Debian's Chromium with playwright-core (no
// browser download; it runs in a fresh temporary profile): sign in, create a project from the bounding-box
// template, add an Azure source storage through the form (a wrong key
// first), check the connection, preview, save and sync, label a task with a
// rectangle, add a target storage and export. Every step leaves a
// screenshot in $ARTIFACTS. The last line on stdout is a JSON report that
// e2e_test.go checks; progress goes to stderr.
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('BASE_URL');
const storageOrigin = new URL(env('STORAGE_ENDPOINT')).origin;
const artifacts = env('ARTIFACTS');
// The task's image in the editor (the annotator's avatar is an <img> too).
const TASK_IMAGE = '#label-studio img:not([class*=userpic])';
// Which storage APIs this server offers (e2e_test.go probes them).
const haveSource = process.env.SOURCE_STORAGES === '1';
const haveTarget = process.env.TARGET_STORAGES === '1';
const report = { steps: [], requests: [], blocked: [], consoleErrors: [], checks: [] };
// The README's screenshots are regenerated into this directory when it is
// set (BLOBMARK_DOCS_IMAGES=docs/images go test ./e2e -run TestBrowserEndToEnd).
const docsImages = process.env.BLOBMARK_DOCS_IMAGES || '';
const log = (...a) => console.error(...a);

// Network errors the test provokes on purpose, and only while it does.
let expectedFailure = null;

// expect fails the run with what the page showed instead.
function expect(ok, what) {
  if (!ok) throw new Error(what);
  report.checks.push(what.replace(/:.*/, ''));
  log(`  ok: ${what}`);
}

// docsShot saves a README image at the README's size.
async function docsShot(page, name) {
  if (!docsImages) return;
  const size = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.screenshot({ path: join(docsImages, name) });
  await page.setViewportSize(size);
}

// pageLook is what the annotator's global stylesheet used to change on the
// labeling page only.
const pageLook = (page) => page.evaluate(() => {
  const body = getComputedStyle(document.body);
  const h = document.querySelector('main h1, main h2');
  return { background: body.backgroundColor, font: body.fontFamily, heading: h ? getComputedStyle(h).fontWeight : '' };
});

let shot = 0;
async function step(name, page, fn) {
  log(`step: ${name}`);
  await fn();
  shot++;
  await page.screenshot({ path: join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  report.steps.push(name);
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let exitCode = 0;
try {
  // Azurite's certificate is the test harness's own.
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ignoreHTTPSErrors: true });
  await context.route('**/*', (route) => {
    const u = route.request().url();
    let origin = '';
    try { origin = new URL(u).origin; } catch { /* data: and the like */ }
    if (origin === base || origin === storageOrigin || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
    report.blocked.push(u);
    return route.abort();
  });
  context.on('request', (r) => { if (!r.url().startsWith('data:')) report.requests.push(r.url()); });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url || '';
    if (expectedFailure && expectedFailure.test(where) && m.text().startsWith('Failed to load resource')) return;
    report.consoleErrors.push(`${m.text()} (${where})`);
  });
  page.on('pageerror', (e) => report.consoleErrors.push(`uncaught: ${e.message}`));

  await step('sign-in', page, async () => {
    await page.goto(`${base}/user/login/`);
    await page.fill('#email', env('EMAIL'));
    await page.fill('#password', env('PASSWORD'));
    await Promise.all([page.waitForURL(`${base}/projects/`), page.click('#sign-in')]);
    await page.waitForSelector('#whoami');
    await page.waitForSelector('#create-project');
  });

  await step('invalid-config', page, async () => {
    await page.fill('#project-title', 'Boxes');
    // An unclosed tag: the server's XML error shows under the editor.
    await page.fill('#label-config', '<View><Image name="image" value="$image"></View>');
    expectedFailure = /\/api\/projects\/$/;
    await page.click('#create-project-submit');
    const box = await page.waitForSelector('#label-config-error:not(.hidden)');
    const text = await box.textContent();
    if (!/not valid XML/.test(text)) throw new Error(`the config error says ${JSON.stringify(text)}`);
    expectedFailure = null;
  });

  await step('project-created', page, async () => {
    await page.selectOption('#template', 'image-bbox');
    // Without storage routes their lists answer 404, which the page reports.
    expectedFailure = haveSource && haveTarget ? null : /\/api\/storages\//;
    await Promise.all([page.waitForURL(/\/projects\/\d+\/storage$/), page.click('#create-project-submit')]);
    report.projectId = Number(page.url().match(/projects\/(\d+)\//)[1]);
    await page.waitForSelector(haveSource ? '#no-source-storage' : '#source-storages .msg.error');
    await page.waitForSelector(haveTarget ? '#no-target-storage' : '#target-storages .msg.error');
  });

  const fillSource = async (key) => {
    await page.fill('#f-title', 'Cats');
    await page.selectOption('#f-auth_type', 'account_key');
    await page.selectOption('#f-cloud', 'custom');
    await page.fill('#f-endpoint', env('STORAGE_ENDPOINT'));
    await page.fill('#f-account_name', env('ACCOUNT_NAME'));
    await page.fill('#f-account_key', key);
    await page.fill('#f-container', env('SOURCE_CONTAINER'));
    await page.fill('#f-prefix', env('SOURCE_PREFIX'));
  };

  if (haveSource) {
    await step('identity-hint', page, async () => {
      await page.click('#add-source');
      await page.selectOption('#f-auth_type', 'managed_identity');
      const hint = await page.textContent('#auth-hint');
      expect(/operator allows it/.test(hint) && /--server-identity-allow/.test(hint),
        `managed identity hint names the operator's allow-list: ${JSON.stringify(hint)}`);
    });

    await step('connection-refused', page, async () => {
      // The emulator's host on a port nothing listens on: the network
      // refuses, and the form must blame the endpoint, not the key.
      await fillSource(env('ACCOUNT_KEY'));
      const closed = new URL(env('STORAGE_ENDPOINT'));
      closed.port = '1';
      await page.fill('#f-endpoint', closed.href);
      expectedFailure = /\/api\/storages\/azure\/validate$/;
      await page.click('#check-connection');
      const text = (await (await page.waitForSelector('#check-error', { timeout: 60_000 })).textContent()).trim();
      expectedFailure = null;
      expect(/^endpoint: connect: /.test(text) && /connection refused/.test(text) && !/account.key/i.test(text),
        `a refused connection is blamed on the endpoint: ${JSON.stringify(text)}`);
    });

    await step('wrong-key', page, async () => {
      // A key of the right shape that the account does not have.
      await fillSource(Buffer.from('not the key of this account, but 64 bytes long, like a real one.').toString('base64'));
      expectedFailure = /\/api\/storages\/azure\/validate$/;
      await page.click('#check-connection');
      const box = await page.waitForSelector('#check-error');
      report.wrongKeyText = (await box.textContent()).trim();
      expectedFailure = null;
      log(`wrong key says: ${report.wrongKeyText}`);
    });

    await step('connection-ok', page, async () => {
      await page.fill('#f-account_key', env('ACCOUNT_KEY'));
      await page.click('#check-connection');
      await page.waitForSelector('#check-ok');
    });

    await step('files-preview', page, async () => {
      await page.click('#preview-files');
      await page.waitForSelector('#files-preview ul.files li');
      const n = await page.locator('#files-preview ul.files li').count();
      if (n !== Number(env('EXPECT_TASKS'))) throw new Error(`the preview lists ${n} files, want ${env('EXPECT_TASKS')}`);
    });

    await step('preview-cleared', page, async () => {
      // The preview and the check answered for the old prefix.
      await page.fill('#f-prefix', 'elsewhere/');
      const left = await page.evaluate(() => document.querySelector('#files-preview').childElementCount +
        document.querySelector('#form-result').childElementCount);
      expect(left === 0, `an edit clears the preview and the check result: ${left} elements left`);
      await page.fill('#f-prefix', env('SOURCE_PREFIX'));
    });

    await step('synced', page, async () => {
      await page.click('#save-sync');
      const card = page.locator('.storage.source').first();
      await card.waitFor();
      await card.locator('.progress').waitFor();
      await docsShot(page, 'storage-sync.png');
      await page.waitForSelector('.storage.source[data-status="completed"]', { timeout: 120_000 });
      const finished = await card.locator('.progress').getAttribute('aria-valuenow');
      if (finished !== '100') throw new Error(`the finished sync's progress bar is at ${finished}, want 100`);
      report.tasksCreated = Number(await card.locator('.tasks-created').textContent());
      report.storageLook = await pageLook(page);
    });

    await step('re-sync', page, async () => {
      // Every render of the card while the second sync is queued or running
      // must show the first sync's time and the tasks the storage has.
      await page.evaluate(() => {
        window.resync = { seen: 0, wrong: [] };
        const look = () => {
          const card = document.querySelector('.storage.source');
          if (!card || !['queued', 'in_progress'].includes(card.dataset.status)) return;
          window.resync.seen++;
          const last = card.querySelector('.last-sync')?.textContent, total = card.querySelector('.total')?.textContent;
          if (last === 'never' || total !== window.resyncWant) window.resync.wrong.push(`${last} · ${total}`);
        };
        new MutationObserver(look).observe(document.querySelector('#source-storages'), { childList: true, subtree: true });
      });
      await page.evaluate((n) => { window.resyncWant = n; }, env('EXPECT_TASKS'));
      const card = page.locator('.storage.source').first();
      await card.locator('button.sync').click();
      // The card was completed before too: wait for the second sync's end.
      await page.waitForFunction(async (project) => {
        const list = await (await fetch(`/api/storages/azure/?project=${project}`, { credentials: 'same-origin' })).json();
        return list[0].meta.attempts === 2 && list[0].status === 'completed';
      }, report.projectId, { timeout: 120_000, polling: 500 });
      const seen = await page.evaluate(() => window.resync);
      // The card may still show the first sync's end if the page's polling
      // never caught the second one running: show the page as it is now.
      await page.reload();
      await page.waitForSelector('.storage.source[data-status="completed"] .tasks-created');
      report.resyncActiveSeen = seen.seen;
      log(`  the card rendered the running re-sync ${seen.seen} times`);
      expect(seen.wrong.length === 0, `a running re-sync shows the previous sync and the storage's tasks: saw ${JSON.stringify(seen.wrong)}`);
      const total = await card.locator('.total').textContent(), created = await card.locator('.tasks-created').textContent();
      expect(total === env('EXPECT_TASKS') && created === '0',
        `after a re-sync that found nothing new the card counts the storage's tasks: ${total} tasks, ${created} created`);
    });
  }

  await step('tasks', page, async () => {
    await page.click('nav.tabs a[href$="/data"]');
    await page.waitForSelector(haveSource ? '#tasks tbody tr' : '#no-tasks');
    const rows = await page.locator('#tasks tbody tr').count();
    if (haveSource && rows !== Number(env('EXPECT_TASKS'))) throw new Error(`the task table has ${rows} rows, want ${env('EXPECT_TASKS')}`);
    if (!process.env.DIRECT_IMAGE_URL) {
      // Thumbnails come through the resolve endpoint.
      await page.waitForFunction(() => document.querySelectorAll('#tasks img.thumb').length > 0 &&
        [...document.querySelectorAll('#tasks img.thumb')].every(i => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 });
    }
  });

  if (process.env.DIRECT_IMAGE_URL) {
    // This server has no media resolver yet, so synced tasks hold
    // azure-blob:// URIs the browser cannot load. Label a task imported with
    // a direct SAS URL to the same blob instead (a plain Label Studio task).
    await step('imported-task', page, async () => {
      const url = env('DIRECT_IMAGE_URL');
      const id = await page.evaluate(async ({ project, url }) => {
        const csrf = document.cookie.split('; ').find(c => c.startsWith('blobmark_csrf=')).split('=')[1];
        const post = await fetch(`/api/projects/${project}/import`, { method: 'POST', credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf }, body: JSON.stringify([{ image: url }]) });
        if (!post.ok) throw new Error(`import: ${post.status} ${await post.text()}`);
        const list = await (await fetch(`/api/tasks/?project=${project}&page=1&page_size=100`, { credentials: 'same-origin' })).json();
        return list.tasks.find(t => t.data.image === url).id;
      }, { project: report.projectId, url });
      await page.reload();
      await page.waitForSelector(`#tasks tr[data-id="${id}"] img.thumb`);
      report.importedTaskId = id;
    });
  }

  await step('labeling', page, async () => {
    const link = report.importedTaskId ? page.locator(`#tasks tr[data-id="${report.importedTaskId}"] .label-task`) : page.locator('.label-task').first();
    await Promise.all([page.waitForURL(/\/label\?task=\d+$/), link.click()]);
    report.taskId = Number(new URL(page.url()).searchParams.get('task'));
    // The editor is up and its image decoded.
    await page.waitForFunction((TASK_IMAGE) => {
      const img = document.querySelector(TASK_IMAGE);
      return img && img.complete && img.naturalWidth > 0;
    }, TASK_IMAGE, { timeout: 60_000 });
    if (report.storageLook) {
      // The annotator's stylesheet stays inside the editor.
      const look = await pageLook(page);
      expect(JSON.stringify(look) === JSON.stringify(report.storageLook),
        `the labeling page looks like the others: ${JSON.stringify(look)} vs ${JSON.stringify(report.storageLook)}`);
      const editorFont = await page.evaluate(() => getComputedStyle(document.querySelector('.lsf-editor')).fontFamily);
      expect(editorFont !== look.font, `the editor keeps its own font: ${editorFont}`);
    }
  });

  await step('rectangle', page, async () => {
    await page.getByText('Object', { exact: true }).first().click();
    const img = page.locator(TASK_IMAGE).first();
    const b = await img.boundingBox();
    await page.mouse.move(b.x + b.width * 0.2, b.y + b.height * 0.25);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.6, b.y + b.height * 0.7, { steps: 10 });
    await page.mouse.up();
    await page.waitForFunction(() => window.Htx && window.Htx.annotationStore.selected &&
      window.Htx.annotationStore.selected.serializeAnnotation().length > 0);
    await docsShot(page, 'labeling.png');
  });

  await step('submitted', page, async () => {
    await page.click('button[aria-label="submit"]');
    await page.waitForFunction(() => document.body.dataset.lastAnnotation, null, { timeout: 30_000 });
    report.annotationId = Number(await page.evaluate(() => document.body.dataset.lastAnnotation));
    await page.waitForSelector('#status .msg.ok');
    if (process.env.DIRECT_IMAGE_URL) {
      // The next task is a synced one, whose blob this server cannot resolve.
      await page.waitForSelector('#unresolved-media');
    }
  });

  if (haveTarget) {
    await step('target-storage', page, async () => {
      await page.goto(`${base}/projects/${report.projectId}/storage`);
      await page.click('#add-target');
      await page.fill('#f-title', 'Labels');
      await page.selectOption('#f-auth_type', 'account_key');
      await page.selectOption('#f-cloud', 'custom');
      await page.fill('#f-endpoint', env('STORAGE_ENDPOINT'));
      await page.fill('#f-account_name', env('ACCOUNT_NAME'));
      await page.fill('#f-account_key', env('ACCOUNT_KEY'));
      await page.fill('#f-container', env('TARGET_CONTAINER'));
      // Objects named after the task, and the whole project as one JSON
      // object; the preview renders both names on the annotated task.
      await page.fill('#f-key_template', 'labels/{task_id}-{annotation_id}');
      await page.waitForSelector('#f-dataset_format option[value="JSON"]', { state: 'attached' });
      await page.selectOption('#f-dataset_format', 'JSON');
      await page.fill('#f-dataset_key_template', 'datasets/{project_id}');
      await page.fill('#f-dataset_interval_minutes', '60');
      await page.click('#preview-keys');
      const objectKey = await (await page.waitForSelector('#object-key')).textContent();
      expect(new RegExp(`^labels/\\d+-${report.annotationId}\\.json$`).test(objectKey), `the preview names the annotation's object: ${objectKey}`);
      const datasetKey = await page.locator('#dataset-key').textContent();
      expect(datasetKey === `datasets/${report.projectId}.json`, `the preview names the dataset object: ${datasetKey}`);
      await page.click('#check-connection');
      await page.waitForSelector('#check-ok');
      await page.click('#save-storage');
      const card = page.locator('.storage.target').first();
      await card.waitFor();
      const saved = await page.evaluate(async (project) =>
        (await (await fetch(`/api/storages/export/azure?project=${project}`, { credentials: 'same-origin' })).json())[0], report.projectId);
      expect(saved.dataset_interval_minutes === 60, `the form saves the dataset export's schedule: ${saved.dataset_interval_minutes}`);
      // Export what was annotated before the storage existed.
      await card.locator('button.sync').click();
      await page.waitForSelector('.storage.target[data-status="completed"]', { timeout: 120_000 });
      const total = await card.locator('.total').textContent();
      expect(total === '1', `the target card counts the exported annotation: ${total}`);
      let dataset = '';
      for (let i = 0; i < 60 && dataset !== 'completed'; i++) {
        if (i > 0) await page.waitForTimeout(500);
        await page.reload();
        dataset = await page.locator('.storage.target .dataset-state').first().getAttribute('data-status');
      }
      expect(dataset === 'completed', `the target card shows the dataset export completed: ${dataset}`);
      report.datasetKey = datasetKey;
    });

    await step('export-queue-count', page, async () => {
      // An annotation saved now is exported by the queue, without "Export
      // all": the card counts it as soon as it is in the container.
      await page.evaluate(async (project) => {
        const csrf = document.cookie.split('; ').find(c => c.startsWith('blobmark_csrf=')).split('=')[1];
        const list = await (await fetch(`/api/tasks/?project=${project}&page=1&page_size=100`, { credentials: 'same-origin' })).json();
        const task = list.tasks.find(t => !t.is_labeled);
        const post = await fetch(`/api/tasks/${task.id}/annotations/`, { method: 'POST', credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf }, body: JSON.stringify({ result: [] }) });
        if (!post.ok) throw new Error(`annotate: ${post.status} ${await post.text()}`);
      }, report.projectId);
      let total = '';
      for (let i = 0; i < 60 && total !== '2'; i++) {
        if (i > 0) await page.waitForTimeout(500);
        await page.reload();
        total = await page.locator('.storage.target .total').first().textContent();
      }
      expect(total === '2', `the target card follows the export queue: ${total} annotations`);
    });
  }
} catch (e) {
  report.error = e.stack || String(e);
  exitCode = 1;
  log(report.error);
} finally {
  await browser.close().catch(() => {});
}
console.log(JSON.stringify(report));
process.exit(exitCode);
