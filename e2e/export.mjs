// The Export dialog in Debian's Chromium: the owner selects two tasks in
// the Data Manager, opens Export, reads how the disabled formats and an
// earlier failed snapshot are explained, downloads YOLO of the selection,
// then creates a COCO snapshot of the annotated tasks, watches it until
// it is completed and downloads it from its link. The downloads are saved
// in $DOWNLOADS for export_test.go to open.
import { join } from 'node:path';
import { env, scenario } from './harness.mjs';

const project = Number(env('PROJECT_ID'));
const downloads = env('DOWNLOADS');

// save clicks a download link and saves the file under its own name.
async function save(page, selector) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const name = download.suggestedFilename();
  await download.saveAs(join(downloads, name));
  return name;
}

await scenario('export', async (h) => {
  const { base, report, step } = h;
  const owner = await h.newPage('owner');

  await step('dialog-opened', owner, async () => {
    await h.signIn(owner, env('OWNER_EMAIL'), env('OWNER_PASSWORD'));
    await owner.goto(`${base}/projects/${project}/data`);
    await owner.waitForFunction(() => /^6 tasks/.test(document.getElementById('task-total')?.textContent || ''));
    const rows = owner.locator('#tasks tbody tr');
    report.selected = [];
    for (const i of [0, 1]) {
      const id = Number(await rows.nth(i).getAttribute('data-id'));
      await owner.click(`#tasks tr[data-id="${id}"] .select-task`);
      await owner.waitForFunction((n) => document.getElementById('selected-count').textContent === `${n} selected`, i + 1);
      report.selected.push(id);
    }
    await owner.click('#export');
    await owner.waitForSelector('#export-formats');
    report.disabled = await owner.$$eval('#export-formats label.format.disabled', labels => labels.map(l => ({
      name: l.dataset.format, disabled: l.querySelector('input').disabled, reason: l.querySelector('.reason')?.textContent || '',
    })));
    const failed = owner.locator(`.snapshot[data-id="${env('FAILED_SNAPSHOT')}"][data-status="failed"] pre.traceback`);
    await failed.waitFor();
    report.failedTraceback = await failed.textContent();
  });

  await step('selection-downloaded', owner, async () => {
    await owner.check('input[name="export-format"][value="YOLO"]');
    await owner.check('#export-selected');
    report.directFile = await save(owner, '#export-download');
  });

  await step('snapshot-completed', owner, async () => {
    await owner.check('input[name="export-format"][value="COCO"]');
    await owner.uncheck('#export-selected');
    // Every status the new snapshot's row shows, in order.
    await owner.evaluate(() => {
      window.snapshotStatuses = [];
      new MutationObserver(() => {
        const row = [...document.querySelectorAll('#snapshots .snapshot')].find(r => r.querySelector('b')?.textContent === 'COCO snapshot');
        const s = row?.dataset.status;
        if (s && window.snapshotStatuses.at(-1) !== s) window.snapshotStatuses.push(s);
      }).observe(document.getElementById('snapshots'), { childList: true, subtree: true });
    });
    await owner.click('#export-snapshot');
    const row = owner.locator('#snapshots .snapshot', { hasText: 'COCO snapshot' });
    await row.locator('a.snapshot-download[data-format="COCO"]').waitFor();
    report.statuses = await owner.evaluate(() => window.snapshotStatuses);
    report.progress = await row.locator('.progress-text').textContent();
    report.snapshotFile = await save(owner, '#snapshots .snapshot:has-text("COCO snapshot") a.snapshot-download[data-format="COCO"]');
  });
});
