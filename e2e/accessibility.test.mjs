// axe-core (WCAG 2.1 A and AA rules) finds no violation on the pages a shopper and an operator
// use: the Gravity Well (orbiting, with the painted canvas), a product page, sign-in,
// registration, the orders page, the admin page and the orders desk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { BASE_URL, launch, signInAsAdmin } from './browser.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The violations axe-core finds on the page as it is now, as `rule (n nodes): first target`. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => `${v.id} (${v.nodes.length} nodes): ${v.nodes[0]?.target?.join(' ')}`);
  });
  return found;
}

test('axe-core finds no WCAG 2.1 A/AA violation on the shopper\'s and the operator\'s pages', async () => {
  // The injected axe script is the test's own; the pages' policy would refuse it.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const report = {};
  const check = async (path, ready) => {
    await page.goto(BASE_URL + path, { waitUntil: 'networkidle' });
    await page.waitForSelector(ready, { timeout: 20000 });
    report[path] = await violations(page);
  };
  await check('/', '.product-grid[data-alive="synced"]');
  const slug = (await page.locator('.product-grid [data-product-id] a').first().getAttribute('href')).split('/').pop();
  await check(`/p/${slug}`, 'body[data-hydrated="true"]');
  await check('/login', 'body[data-hydrated="true"]');
  await check('/register', 'body[data-hydrated="true"]');
  await signInAsAdmin(page);
  await check('/orders', 'body[data-hydrated="true"]');
  await check('/admin', 'body[data-hydrated="true"] .admin-create');
  await check('/admin/orders', 'body[data-hydrated="true"] .desk-list');
  const failing = Object.fromEntries(Object.entries(report).filter(([, v]) => v.length));
  assert.deepEqual(failing, {}, JSON.stringify(failing, null, 2));
  await context.close();
});
