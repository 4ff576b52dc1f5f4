// The storefront renders on the server, hydrates without errors, and links to product pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, collectErrors } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the Gravity Well shows at least 60 products and hydrates without console errors', async () => {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  const response = await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  assert.equal(response.status(), 200);

  const cards = page.locator('[data-product-id]');
  assert.ok(await cards.count() >= 60, `only ${await cards.count()} products`);
  const first = cards.first();
  assert.match(await first.getAttribute('data-price-cents'), /^\d+$/);
  assert.match(await first.locator('.product-price').innerText(), /^\$[\d,]+\.\d\d$/);
  assert.match(await first.locator('.stock').innerText(), /in stock|left|Sold out/);

  // The app marks <body data-hydrated> from an effect, which only runs once hydrated.
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 15000 });
  await page.waitForTimeout(300); // let any late error surface
  assert.deepEqual(errors, []);
  await page.close();
});

test('the page works without JavaScript', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(BASE_URL + '/');
  assert.ok(await page.locator('[data-product-id]').count() >= 60);
  await context.close();
});

test('a product page opens from its card, and an unknown page is a 404', async () => {
  // In the calm grid (reduced motion) cards hold still, so a click lands where it aims.
  const context = await browser.newContext({ reducedMotion: 'reduce' });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  const card = page.locator('[data-product-id]').nth(3);
  const name = await card.locator('.product-name').innerText();
  await card.locator('a').click();
  await page.waitForURL(/\/p\/[a-z0-9-]+$/);
  assert.equal(await page.locator('h1').innerText(), name);

  const missing = await page.goto(BASE_URL + '/p/no-such-thing');
  assert.equal(missing.status(), 404);
  assert.match(await page.locator('h1').innerText(), /404/);
  assert.deepEqual(errors.filter((e) => !e.includes('404')), []);
  await context.close();
});

test('back to the well from a product page without a reload: the browser builds the same cards', async () => {
  const context = await browser.newContext({ reducedMotion: 'reduce' });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  const served = await page.locator('.product-grid > li.product-card').evaluateAll((cards) =>
    cards.map((card) => [card.dataset.productId, card.querySelector('.product-name').textContent]));
  const href = await page.locator('.product-card a').nth(2).getAttribute('href');

  await page.goto(BASE_URL + href, { waitUntil: 'networkidle' });
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 15000 });
  await page.evaluate(() => { window.stayedOnThisDocument = true; });
  await page.locator('a.back').click();
  await page.waitForURL(BASE_URL + '/');
  await page.waitForSelector('.product-grid > li.product-card');

  assert.equal(await page.evaluate(() => window.stayedOnThisDocument), true, 'the router navigated, the page did not reload');
  const built = await page.locator('.product-grid > li.product-card').evaluateAll((cards) =>
    cards.map((card) => [card.dataset.productId, card.querySelector('.product-name').textContent]));
  assert.deepEqual(built, served);
  assert.equal(await page.locator('.product-grid button.beam[data-beam]').count(), served.length);
  assert.deepEqual(errors, []);
  await context.close();
});
