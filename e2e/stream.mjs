// The label stream and the Data Manager in Debian's Chromium: two
// annotators, each in a browser context of their own, label one project
// (maximum_annotations 1) at the same time until the stream is empty for
// both; then the owner saves a filtered, sorted view of another project,
// reloads and finds it as saved; then deletes every task of a filter but
// one. The report (last line on stdout) carries what the pages showed —
// task ids, counts, dialog texts — for stream_test.go to compare with the
// database.
import { env, scenario } from './harness.mjs';

const streamProject = Number(env('STREAM_PROJECT_ID'));
const catalog = Number(env('CATALOG_PROJECT_ID'));

// labelAll labels tasks through the labeling page until it says "All
// done", and returns the ids of the tasks it was given, in order.
async function labelAll(page, choice) {
  const seen = [];
  const title = page.locator('#task-title');
  for (;;) {
    await page.waitForFunction(() => {
      const t = document.getElementById('task-title')?.textContent || '';
      return t === 'All done' || (/^Task #\d+$/.test(t) && window.Htx && window.Htx.annotationStore && window.Htx.annotationStore.selected);
    }, null, { timeout: 60_000 });
    const text = await title.textContent();
    if (text === 'All done') return seen;
    seen.push(Number(text.slice('Task #'.length)));
    await page.getByText(choice).first().click();
    await page.waitForFunction(() => window.Htx.annotationStore.selected.serializeAnnotation().length > 0);
    await page.click('button[aria-label="submit"]');
    await page.waitForFunction((was) => document.getElementById('task-title')?.textContent !== was, text, { timeout: 30_000 });
  }
}

// settled waits for the tasks page to show a total matching re.
async function settled(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('task-total')?.textContent || ''), re.source);
}

// rerendered does what action does on the tasks page and waits for the
// page to be drawn again: every change re-renders it after a request, and
// an input of the old drawing would lose what is typed into it.
async function rerendered(page, action) {
  const old = await page.$('#filters');
  await action();
  await page.waitForFunction((el) => !el.isConnected, old);
}

// filterBy adds a filter through the filter panel, one control at a time.
async function filterBy(page, column, operator, value) {
  await rerendered(page, () => page.click('#add-filter'));
  await rerendered(page, () => page.selectOption('#filters .f-column', column));
  await rerendered(page, () => page.selectOption('#filters .f-operator', operator));
  await page.fill('#filters .f-value', value);
  await rerendered(page, () => page.press('#filters .f-value', 'Enter'));
}

const rowIDs = (page) => page.$$eval('#tasks tbody tr', rows => rows.map(r => Number(r.dataset.id)));

await scenario('stream', async (h) => {
  const { base, report, step } = h;

  const [nina, omar] = [await h.newPage('nina'), await h.newPage('omar')];
  await step('annotators-signed-in', omar, async () => {
    await h.signIn(nina, env('NINA_EMAIL'), env('NINA_PASSWORD'));
    await h.signIn(omar, env('OMAR_EMAIL'), env('OMAR_PASSWORD'));
    await Promise.all([nina, omar].map(p => p.goto(`${base}/projects/${streamProject}/label`)));
  });

  await step('labeled-in-parallel', nina, async () => {
    const [a, b] = await Promise.all([labelAll(nina, 'Positive'), labelAll(omar, 'Negative')]);
    report.labeled = { nina: a, omar: b };
    // Each page's queue line once both are done (the first to finish may
    // have counted a task the other still held): reloaded, it counts
    // nothing left.
    report.queues = {};
    for (const [name, page] of [['nina', nina], ['omar', omar]]) {
      await page.reload();
      await page.waitForFunction(() => / 0 left /.test(document.getElementById('queue')?.textContent || ''));
      report.queues[name] = await page.locator('#queue').textContent();
    }
  });

  const owner = await h.newPage('owner');
  await step('view-saved', owner, async () => {
    await h.signIn(owner, env('OWNER_EMAIL'), env('OWNER_PASSWORD'));
    await owner.goto(`${base}/projects/${catalog}/data`);
    await settled(owner, /^45 tasks/);
    await filterBy(owner, 'data.group', 'equal', 'blue');
    await settled(owner, /^15 matching tasks/);
    // Descending by id: the first click sorts up, the second down.
    await owner.click('th[data-column="id"]');
    await owner.waitForFunction(() => document.querySelector('th[data-column="id"]').textContent.endsWith('▲'));
    await owner.click('th[data-column="id"]');
    await owner.waitForFunction(() => document.querySelector('th[data-column="id"]').textContent.endsWith('▼'));
    owner.once('dialog', d => d.accept('Blue, newest first'));
    await owner.click('#save-view');
    await owner.waitForSelector('#view-saved');
    report.viewId = Number(new URL(owner.url()).searchParams.get('view'));
  });

  await step('view-reopened', owner, async () => {
    await owner.reload();
    await settled(owner, /matching tasks/);
    report.reopened = {
      url: owner.url(),
      total: await owner.locator('#task-total').textContent(),
      tab: await owner.locator('#views a.active').textContent(),
      column: await owner.locator('#filters .f-column').inputValue(),
      operator: await owner.locator('#filters .f-operator').inputValue(),
      value: await owner.locator('#filters .f-value').inputValue(),
      sortedBy: await owner.locator('th.sortable', { hasText: '▼' }).getAttribute('data-column'),
      rows: await rowIDs(owner),
    };
  });

  await step('bulk-deleted', owner, async () => {
    await owner.click('#views a[data-view="0"]');
    await settled(owner, /^45 tasks/);
    await filterBy(owner, 'data.group', 'equal', 'red');
    await settled(owner, /^30 matching tasks/);
    // The page, then every matching task, then one of them back out.
    await owner.click('#select-page');
    await owner.click('#select-all-matching');
    await owner.waitForFunction(() => document.getElementById('selected-count').textContent === '30 selected');
    const kept = (await rowIDs(owner))[0];
    await owner.click(`#tasks tr[data-id="${kept}"] .select-task`);
    await owner.waitForFunction(() => document.getElementById('selected-count').textContent === '29 selected');
    const confirmed = new Promise(resolve => owner.once('dialog', d => { resolve(d.message()); d.accept(); }));
    await owner.click('button.action[data-action="delete_tasks"]');
    report.deleted = { kept, confirm: await confirmed };
    await owner.waitForSelector('#action-done');
    report.deleted.done = await owner.locator('#action-done').textContent();
    await settled(owner, /^1 matching tasks?/);
    report.deleted.rows = await rowIDs(owner);
  });
});
