// What every browser scenario needs around its steps: the environment the
// Go test passes, Debian's Chromium launched with playwright-core, browser
// contexts that may reach the server under test only, console errors
// collected, a screenshot per step in $ARTIFACTS, and the JSON report as
// the last line on stdout (progress goes to stderr).
import { chromium } from 'playwright-core';
import { join } from 'node:path';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
export const log = (...a) => console.error(...a);

// scenario runs body(h) with a fresh browser; h.report is printed at the
// end whatever happens, with h.report.error when a step threw.
export async function scenario(prefix, body) {
  const base = env('BASE_URL');
  const artifacts = env('ARTIFACTS');
  const report = { steps: [], requests: [], blocked: [], consoleErrors: [] };
  let shot = 0;
  const h = {
    base, report,
    // expectedFailure, while set, keeps "Failed to load resource" errors,
    // and the refusals of the browser's CORS checks, out of the report:
    // the answers the scenario provokes on purpose.
    expectedFailure: false,
    async step(name, page, fn) {
      log(`step: ${name}`);
      await fn();
      shot++;
      await page.screenshot({ path: join(artifacts, `${prefix}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
      report.steps.push(name);
    },
    // newPage opens a page in a context of its own that may reach the
    // server under test and the origins listed (a storage endpoint, whose
    // certificate is the test harness's own).
    async newPage(who, origins = []) {
      const context = await browser.newContext({ viewport: { width: 1300, height: 900 }, ignoreHTTPSErrors: origins.length > 0 });
      await context.route('**/*', (route) => {
        const u = route.request().url();
        if (u.startsWith(base + '/') || u.startsWith('data:') || u.startsWith('blob:') || origins.some(o => u.startsWith(o + '/'))) return route.continue();
        report.blocked.push(u);
        return route.abort();
      });
      context.on('request', (r) => { if (!r.url().startsWith('data:')) report.requests.push(`${who} ${r.method()} ${r.url()}`); });
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        if (h.expectedFailure && /^Failed to load resource|blocked by CORS policy/.test(m.text())) return;
        // The label stream answers 404 when nothing is left: the page then
        // says "All done", and the browser logs the 404 all the same.
        if (m.text().includes('404') && /\/api\/projects\/\d+\/next\/$/.test(m.location()?.url || '')) return;
        report.consoleErrors.push(`${who}: ${m.text()} (${m.location()?.url || ''})`);
      });
      page.on('pageerror', (e) => report.consoleErrors.push(`${who} uncaught: ${e.message}`));
      return page;
    },
    // signIn signs a user in through the login page, and waits for the
    // page their role lands on: the projects, or an annotator's one label
    // stream.
    async signIn(page, email, password) {
      await page.goto(`${base}/user/login/`);
      await page.fill('#email', email);
      await page.fill('#password', password);
      await Promise.all([page.waitForURL(/\/projects\/(\d+\/label)?$/), page.click('#sign-in')]);
    },
  };
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let exitCode = 0;
  try {
    await body(h);
  } catch (e) {
    report.error = e.stack || String(e);
    exitCode = 1;
    log(report.error);
  } finally {
    await browser.close().catch(() => {});
  }
  console.log(JSON.stringify(report));
  process.exit(exitCode);
}
