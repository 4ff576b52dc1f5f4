// A product whose name and description are markup (an admin's text is hostile too): on the home
// page, its own page, the cart orbit and /admin it shows as text, no script of it runs, no
// element of it appears, and the page's Content-Security-Policy would stop an injected script.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, collectErrors, BASE_URL, signInAsAdmin } from './browser.mjs';

const HOSTILE = `</title><script>alert(1)</script>"><img src=x onerror=alert(2)>]]>{{x}}`;

let browser;
let adminToken;
let product;
before(async () => {
  browser = await launch();
  const login = await fetch(BASE_URL + '/api/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: process.env.E2E_ADMIN_EMAIL, password: process.env.E2E_ADMIN_PASSWORD }),
  });
  assert.equal(login.status, 200, 'scripts/test.sh creates the admin');
  adminToken = (await login.json()).token;
  const created = await fetch(BASE_URL + '/api/admin/products', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ slug: `hostile-${Date.now()}`, name: HOSTILE, description: HOSTILE, msrpCents: 1500, stockCount: 5 }),
  });
  assert.equal(created.status, 201);
  product = await created.json();
});
after(async () => {
  if (product) {
    await fetch(`${BASE_URL}/api/admin/products/${product.productId}`, {
      method: 'DELETE', headers: { Authorization: `Bearer ${adminToken}` },
    });
  }
  await browser?.close();
});

/** A page that records dialogs (a script of the text would open one) and errors. */
async function watchedPage(context) {
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (dialog) => { dialogs.push(dialog.message()); dialog.dismiss(); });
  return { page, dialogs, errors: collectErrors(page) };
}

async function assertInert(page, dialogs, where) {
  assert.deepEqual(dialogs, [], `${where}: no script of the text ran`);
  assert.equal(await page.locator('img[src="x"]').count(), 0, `${where}: no element of the text`);
  assert.equal(await page.evaluate(() => document.querySelectorAll('script:not([nonce]):not([src])').length), 0,
    `${where}: every inline script is the page's own`);
}

test('a product named like markup stays text on every page, the cart orbit and /admin', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, dialogs, errors } = await watchedPage(context);

  await page.goto(`${BASE_URL}/p/${product.slug}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.title(), `${HOSTILE} · SwiftCart`, 'the title shows the name as text');
  assert.ok((await page.locator('main').innerText()).includes(HOSTILE), 'the name and description show as text');
  await assertInert(page, dialogs, `/p/${product.slug}`);

  await page.goto(BASE_URL + '/');
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });
  const card = page.locator(`.product-grid [data-product-id="${product.productId}"]`);
  // The whole name is the heading's text (markup would have become elements). textContent: the card
  // may lie outside the well's box, where it is not rendered (content-visibility).
  assert.equal(await card.locator('.product-name').textContent(), HOSTILE);
  // Into the cart orbit: its token is built from the card's name.
  await card.locator('button[data-beam]').focus();
  await page.keyboard.press('Enter');
  const token = page.locator(`[data-testid="cart-orbit"] [data-cart-product-id="${product.productId}"]`);
  await token.waitFor({ timeout: 5000 });
  assert.equal(await token.locator('button.drop').getAttribute('aria-label'), `Remove ${HOSTILE} from your cart`);
  await assertInert(page, dialogs, '/');

  // An injected inline script would be refused by the page's policy.
  const ran = await page.evaluate(() => {
    window.__injected = false;
    const script = document.createElement('script');
    script.textContent = 'window.__injected = true';
    document.body.append(script);
    return window.__injected;
  });
  assert.equal(ran, false, 'the Content-Security-Policy stops an injected script');

  await signInAsAdmin(page);
  await page.goto(BASE_URL + '/admin');
  const row = page.locator(`tr[data-product-id="${product.productId}"]`);
  await row.waitFor({ timeout: 10000 });
  assert.equal(await row.locator('input[name="name"]').inputValue(), HOSTILE);
  await assertInert(page, dialogs, '/admin');
  // The refused injection is the console's own CSP line; nothing else may fail.
  assert.deepEqual(errors.filter((e) => !/Content Security Policy/.test(e)), []);
  await context.close();
});
