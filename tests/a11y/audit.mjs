// Accessibility audit (WCAG 2.1 A/AA rules of axe-core) of amtsbote pages in headless
// Chromium. Signs in through the real log-in form, then audits each path given.
//
//   node audit.mjs BASE_URL LOGIN PASSWORD PATH...
//
// A PATH written as 400:/path is a page that refuses its input and must answer 400.
//
// Prints one JSON line per page: {"path", "violations": [{id, impact, nodes, help}]}.
// Exit status: 0 no violations, 3 violations found, 1 on any other failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const [base, login, password, ...paths] = process.argv.slice(2);
if (!base || !login || !password) {
  console.error('usage: node audit.mjs BASE_URL LOGIN PASSWORD PATH...');
  process.exit(1);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = 0;
async function audit(page, label) {
  await page.addScriptTag({ content: axeSource });
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    resultTypes: ['violations'],
  }));
  const violations = res.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }));
  const lang = await page.evaluate(() => document.documentElement.lang);
  console.log(JSON.stringify({ path: label, lang, violations }));
  failed += violations.length;
}
try {
  // Our CSP forbids inline scripts (good); the audit injects axe, so it bypasses CSP.
  const page = await browser.newPage({ viewport: { width: 1024, height: 768 }, bypassCSP: true, locale: 'de-DE' });
  await page.goto(`${base}/login`, { waitUntil: 'load' });
  await audit(page, '/login');
  // Keyboard only: Tab to the fields and submit with Enter, as a screen-reader user would.
  await page.keyboard.press('Tab'); // skip link
  await page.focus('#login');
  await page.keyboard.type(login);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
  if (page.url().endsWith('/login')) throw new Error('log-in failed');
  for (const p of paths) {
    // "400:/path" audits a page that refuses its input and must say so with 400.
    const refused = p.startsWith('400:');
    const path = refused ? p.slice(4) : p;
    const resp = await page.goto(`${base}${path}`, { waitUntil: 'load' });
    const ok = resp && (refused ? resp.status() === 400 : resp.status() < 400);
    if (!ok) throw new Error(`${path} answered ${resp && resp.status()}`);
    await audit(page, path);
  }
} catch (e) {
  console.error(String(e && e.stack || e));
  await browser.close();
  process.exit(1);
}
await browser.close();
process.exit(failed ? 3 : 0);
