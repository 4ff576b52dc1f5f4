// The painted well at 500 products (a server of its own, seeded with `seed --fill-to 500` by
// scripts/test.sh, at SCALE_BASE_URL): a shopper searches for a product by part of its name (the
// server's catalog search), it comes to the front of the well, its card is readable (nothing
// painted over it), and a beam from there (a long press on the canvas) puts it into the cart
// orbit; on a wide screen and a phone. Zoom and pan at the same scale.
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

    // The page asks the server's catalog search (once typing pauses).
    const asked = page.waitForResponse((r) => r.url().includes('/api/products?q=bench%20317') && r.status() === 200);
    await page.locator('[data-testid="well-search"]').fill('bench 317');
    await asked;
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

test('at 500 products the shopper zooms in (buttons, Ctrl + wheel), pans by dragging empty space, and returns to the whole well', { skip: !BASE && 'SCALE_BASE_URL is not set (scripts/test.sh sets it)' }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(BASE + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"][data-painter="worker"]', { timeout: 30000 });
  const well = await page.locator('[data-testid="well-canvas"]').boundingBox();
  const centre = { x: well.x + well.width / 2, y: well.y + well.height / 2 };
  // The mean offset of every body from the well's centre in the worker's newest layout, read
  // 300 ms after the change so a layout from before it cannot count. The worker's first frames
  // (every card rasterised) can take most of a second in a debug build: wait for a layout.
  const spread = async () => {
    await page.waitForTimeout(300);
    await page.waitForFunction(() => (window.__swiftcartLayout() || []).length > 0, null, { timeout: 10000 });
    return page.evaluate((c) => {
      const layout = window.__swiftcartLayout();
      const at = layout.map((e) => [e.x + e.width / 2 - c.x, e.y + e.height / 2 - c.y]);
      const mean = (f) => at.reduce((sum, p) => sum + f(p), 0) / at.length;
      return { radius: mean(([x, y]) => Math.hypot(x, y)), dx: mean(([x]) => x), dy: mean(([, y]) => y) };
    }, centre);
  };
  // A slow (debug) worker may take several frames to show a change (zooming in rasterises the
  // cards again): read until the layout shows what `shown` expects, for at most 8 s, and return
  // the last reading for the assertion.
  const spreadOnce = async (shown) => {
    const deadline = Date.now() + 8000;
    let s = await spread();
    while (!shown(s) && Date.now() < deadline) s = await spread();
    return s;
  };
  const whole = await spread();
  assert.equal(await page.locator('[data-testid="zoom-reset"]').isDisabled(), true, 'already the whole well');

  await page.locator('[data-testid="zoom-in"]').click();
  await page.locator('[data-testid="zoom-in"]').click();
  await page.waitForSelector('.product-grid[data-zoom="2.25"]');
  const zoomed = await spreadOnce((s) => s.radius / whole.radius > 1.9);
  const ratio = zoomed.radius / whole.radius;
  assert.ok(ratio > 1.9 && ratio < 2.6, `bodies spread apart 2.25 times (measured ${ratio.toFixed(2)})`);
  assert.equal(await page.locator('[data-testid="zoom-reset"]').isDisabled(), false);

  // Ctrl + wheel (a trackpad's pinch sends the same) zooms further; a plain wheel does not zoom.
  await page.mouse.move(centre.x, centre.y);
  await page.mouse.wheel(0, 200);
  assert.equal(await page.getAttribute('.product-grid', 'data-zoom'), '2.25', 'a plain wheel scrolls, not zooms');
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, -200);
  await page.keyboard.up('Control');
  await page.waitForFunction(() => Number(document.querySelector('.product-grid').dataset.zoom) > 2.5);

  // A drag on empty space pans: once the layout shows the new zoom, find a point no body
  // covers, drag it 120 px right.
  await page.evaluate(() => window.scrollTo(0, 0));
  const before = await spreadOnce((s) => s.radius / whole.radius > 2.4);
  const box = await page.locator('[data-testid="well-canvas"]').boundingBox();
  const empty = await page.evaluate((b) => {
    const layout = window.__swiftcartLayout();
    for (let y = b.y + 30; y < b.y + b.height - 30; y += 15) {
      for (let x = b.x + 30; x < b.x + b.width - 160; x += 15) {
        const covered = layout.some((e) => x >= e.x - 8 && x <= e.x + e.width + 8 && y >= e.y - 8 && y <= e.y + e.height + 8);
        if (!covered) return { x, y };
      }
    }
    return null;
  }, box);
  assert.ok(empty, 'zoomed in, some of the well is empty space');
  await page.mouse.move(empty.x, empty.y);
  await page.mouse.down();
  for (let k = 1; k <= 6; k++) await page.mouse.move(empty.x + 20 * k, empty.y);
  await page.mouse.up();
  const after = await spreadOnce((s) => s.dx - before.dx > 60);
  assert.ok(after.dx - before.dx > 60, `the well moved right with the drag (${(after.dx - before.dx).toFixed(0)} px)`);
  assert.equal(await page.locator('[data-testid="cart-orbit"] [data-cart-product-id]').count(), 0, 'panning beams nothing');

  await page.locator('[data-testid="zoom-reset"]').click();
  await page.waitForSelector('.product-grid[data-zoom="1.00"]');
  const back = await spreadOnce((s) => Math.abs(s.radius / whole.radius - 1) < 0.15);
  assert.ok(Math.abs(back.radius / whole.radius - 1) < 0.25, 'the whole well again');
  assert.deepEqual(errors, []);
  await context.close();
});
