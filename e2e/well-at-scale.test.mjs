// The painted well at 500 products (a server of its own, seeded with `seed --fill-to 500` by
// scripts/test.sh, at SCALE_BASE_URL): a shopper searches for a product by part of its name, it
// comes to the front of the well, its card is readable (nothing painted over it), and a beam
// from there (a long press on the canvas) puts it into the cart orbit; on a wide screen and a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, collectErrors } from './browser.mjs';

const BASE = process.env.SCALE_BASE_URL;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

for (const [label, options] of [
  ['a wide screen', { viewport: { width: 1280, height: 900 } }],
  ['a phone', { viewport: { width: 375, height: 812 }, hasTouch: true, isMobile: true }],
]) {
  test(`at 500 products on ${label}, a search brings a product to the front, readable, and a beam from there works`, { skip: !BASE && 'SCALE_BASE_URL is not set (scripts/test.sh sets it)' }, async () => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(BASE + '/', { waitUntil: 'networkidle' });
    await page.waitForSelector('.product-grid[data-alive="synced"][data-painter="worker"]', { timeout: 30000 });
    assert.ok(await page.locator('.product-grid [data-product-id]').count() >= 500);
    const card = page.locator('.product-grid [data-product-id]', { hasText: '(bench 317)' });
    const id = await card.getAttribute('data-product-id');

    await page.locator('[data-testid="well-search"]').fill('bench 317');
    await page.waitForSelector(`.product-grid[data-pulled~="${id}"]`);
    assert.match(await page.locator('.well-search-status').innerText(), /bench 317\) is at the front/);
    // The worker's next layouts show it as a card in front of everything it overlaps.
    await page.waitForFunction((id) => {
      const layout = window.__swiftcartLayout();
      const me = layout.find((e) => e.id === id);
      return me && me.card && layout.every((o) => o.rank <= me.rank);
    }, id, { timeout: 5000 });
    const layout = await page.evaluate(() => window.__swiftcartLayout());
    const me = layout.find((e) => e.id === id);
    const well = await page.locator('[data-testid="well-canvas"]').boundingBox();
    assert.ok(me.x >= well.x && me.y >= well.y && me.x + me.width <= well.x + well.width && me.y + me.height <= well.y + well.height,
      'the card is inside the well on screen');
    assert.ok(me.width >= 60, `the card is big enough to read (${me.width.toFixed(0)} px wide)`);

    // A long press on it beams it into the cart orbit.
    const [x, y] = [me.x + me.width / 2, me.y + me.height / 2];
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.waitForTimeout(800);
    await page.mouse.up();
    await page.waitForSelector(`[data-testid="cart-orbit"] [data-cart-product-id="${id}"]`, { timeout: 5000 });

    // Clearing the search lets it go back into the crowd.
    await page.locator('[data-testid="well-search"]').fill('');
    await page.waitForSelector('.product-grid[data-pulled=""]');
    assert.deepEqual(errors, []);
    await context.close();
  });
}
