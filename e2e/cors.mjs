// A storage whose account has no CORS rule for blobmark's origin, in
// Debian's Chromium: the page cannot fetch the task's presigned media;
// Check connection on the storage page warns and offers the rule; one
// click adds it, and the same fetch then gets the image, which the labeling
// page then shows. The report (last
// line on stdout) carries what the pages showed for cors_test.go.
import { env, scenario } from './harness.mjs';

const projectID = Number(env('PROJECT_ID'));
const taskID = Number(env('TASK_ID'));
const storageOrigin = env('STORAGE_ORIGIN');

// fetchMedia fetches the task's media from the page: its resolve URL,
// which redirects to a presigned URL on the account, read by script and
// so subject to the account's CORS rules (an <img> without crossorigin
// is not).
const fetchMedia = (page) => page.evaluate(async (id) => {
  const task = await (await fetch(`/api/tasks/${id}/`)).json();
  try {
    const r = await fetch(task.data.image);
    const body = await r.arrayBuffer();
    return { ok: r.ok, status: r.status, bytes: body.byteLength, url: r.url };
  } catch (e) {
    return { ok: false, error: String(e) };
  }
}, taskID);

await scenario('cors', async (h) => {
  const { base, report, step } = h;
  const page = await h.newPage('owner', [storageOrigin]);

  await step('media-blocked', page, async () => {
    await h.signIn(page, env('EMAIL'), env('PASSWORD'));
    h.expectedFailure = true;
    report.before = await fetchMedia(page);
    h.expectedFailure = false;
  });

  await step('cors-warning', page, async () => {
    await page.goto(`${base}/projects/${projectID}/storage`);
    await page.click('#source-storages button.edit');
    await page.click('#check-connection');
    report.warning = await page.locator('#cors-warning').textContent();
    report.command = await page.locator('#cors-command').textContent();
    report.button = await page.locator('#add-cors').textContent();
  });

  await step('cors-added', page, async () => {
    await page.click('#add-cors');
    report.added = await page.locator('#cors-added').textContent();
  });

  await step('media-loads', page, async () => {
    report.after = await fetchMedia(page);
    // And the labeling page shows the task's image, which it reads through
    // the same resolve URL (the fetch above saw where that redirects).
    await page.goto(`${base}/projects/${projectID}/label?task=${taskID}`);
    await page.waitForFunction(() => {
      const img = document.querySelector('#label-studio img:not([class*=userpic])');
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 30_000 });
    report.labelImage = await page.evaluate(() => {
      const img = document.querySelector('#label-studio img:not([class*=userpic])');
      return { src: img.getAttribute('src'), width: img.naturalWidth };
    });
  });
});
