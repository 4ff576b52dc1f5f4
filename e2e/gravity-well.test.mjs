// The Alive UI in Chromium: products orbit, a flick in one browser changes the motion in another,
// a beam fills the cart orbit (and GET /api/cart agrees), reduced motion keeps a calm grid, and a
// killed connection plays the Temporal Paradox and recovers. Screenshots go to target/e2e-artifacts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { BASE_URL, launch, collectErrors, flickTarget, flickInPage, firstDeparture, recordCard } from './browser.mjs';

const ARTIFACTS = new URL('../target/e2e-artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Opens the Gravity Well in a fresh context (its own guest session) and waits for the sync. */
async function openWell(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });
  return { context, page, errors };
}

/** Pixels per second over windows of about 100 ms (single frames are too noisy), stamped with
 *  the window's end. */
function speeds(samples, windowMs = 100) {
  const out = [];
  let j = 0;
  for (let i = 0; i < samples.length; i++) {
    while (j < samples.length && samples[j][0] - samples[i][0] < windowMs) j++;
    if (j === samples.length) break;
    const [t0, x0, y0] = samples[i];
    const [t1, x1, y1] = samples[j];
    out.push([t1, Math.hypot(x1 - x0, y1 - y0) / ((t1 - t0) / 1000)]);
  }
  return out;
}

async function token(page) {
  return page.evaluate(() => localStorage.getItem('swiftcart.token'));
}

test('the worker paints the orbiting products: they move every frame, prices and the cart orbit are shown', async () => {
  const { context, page, errors } = await openWell();
  assert.equal(await page.locator('[data-testid="syncing"]').isHidden(), true, 'the sync indicator went away');
  assert.equal(await page.locator('.product-grid').getAttribute('data-painter'), 'worker', 'the worker paints the well');
  assert.ok(await page.locator('[data-testid="well-canvas"]').isVisible());
  const id = await page.locator('.product-grid [data-product-id]').nth(2).getAttribute('data-product-id');
  const samples = await recordCard(page, id, 600);
  const moving = speeds(samples).filter(([, v]) => v > 1).length;
  assert.ok(moving > 10, `the card moved in only ${moving} frames`);
  // The DOM cards stay in the document under the canvas, for keyboards and screen readers.
  assert.ok(await page.locator('.product-grid [data-product-id] .product-price').first().isVisible());
  assert.ok(await page.locator('[data-testid="cart-orbit"]').isVisible());
  await page.screenshot({ path: ARTIFACTS + 'gravity-well.png' });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a tap on a painted card opens that product; a tap on empty space does nothing', async () => {
  const { context, page, errors } = await openWell();
  const layout = await page.evaluate(() => window.__swiftcartLayout());
  const box = await page.locator('[data-testid="well-canvas"]').boundingBox();
  // A point along the well's edges far from every body.
  const edges = [];
  for (let f = 0.02; f < 1; f += 0.08) edges.push([box.x + f * box.width, box.y + 4], [box.x + f * box.width, box.y + box.height - 4]);
  const empty = edges.find(([x, y]) =>
    !layout.some((e) => e.rank >= 0 && x >= e.x - 40 && x <= e.x + e.width + 40 && y >= e.y - 40 && y <= e.y + e.height + 40));
  assert.ok(empty, 'some point on the well\'s edges is empty');
  await page.mouse.click(empty[0], empty[1]);
  await page.waitForTimeout(300);
  assert.equal(new URL(page.url()).pathname, '/', 'nothing opened');
  const target = await flickTarget(page);
  assert.ok(target, 'some card is uncovered at its centre');
  // textContent: the DOM card under the canvas may be outside the well's box, not rendered.
  const name = await page.locator(`.product-grid [data-product-id="${target.id}"] .product-name`).textContent();
  await page.mouse.click(target.x, target.y);
  await page.waitForURL(/\/p\/[a-z0-9-]+$/);
  assert.equal(await page.locator('h1').innerText(), name);
  assert.deepEqual(errors, []);
  await context.close();
});

/** How much faster a card moved after `at` than before it (ratio of the peak speeds). */
function speedUp(samples, at) {
  const v = speeds(samples);
  const before = Math.max(...v.filter(([t]) => t < at - 50).map(([, s]) => s));
  const after = Math.max(...v.filter(([t]) => t > at).map(([, s]) => s));
  return { before, after, ratio: after / before, first: v.find(([t, s]) => t > at && s > 1.6 * before) };
}

/**
 * A flicks a card while B records it: `{ id, flickedAt, samples, forecast }`, `forecast` being B's
 * worker's record of the flick's `ev` frame (null when none arrived).
 */
async function flickWatched(a, b) {
  const chosen = await flickTarget(a.page);
  assert.ok(chosen, 'some card is uncovered at its centre');
  const watching = recordCard(b.page, chosen.id, 3000);
  await a.page.waitForTimeout(700);
  // It moved meanwhile: find it again (it may be covered for a moment).
  let target = null;
  for (let look = 0; look < 10 && !target; look++) target = await flickTarget(a.page, { only: chosen.id });
  assert.ok(target, 'the chosen card is uncovered again');
  // The stroke is dispatched inside the page 16 ms apart, so its speed does not depend on how
  // fast the test driver's round trips are.
  const { id, flickedAt } = await flickInPage(a.page, target);
  const samples = await watching;
  const forecast = (await b.page.evaluate(() => window.__swiftcartStats().forecasts))
    .find(([pid, arrived]) => pid === id && arrived >= flickedAt) ?? null;
  return { id, flickedAt, samples, forecast };
}

/** Attempts at a flick whose event reaches the other browser before its tick. */
const FORECAST_ATTEMPTS = 3;

test('a flick in one browser changes that product\'s motion in another', async () => {
  const a = await openWell();
  const b = await openWell();
  const gestures = async () => Number((await (await fetch(BASE_URL + '/metrics')).text()).match(/swiftcart_engine_gestures_total (\d+)/)[1]);
  // An event that reaches a node after its tick is dropped by design (the tick carries the
  // truth), which a loaded 2-core machine can cause: up to FORECAST_ATTEMPTS flicks are made
  // until one is forecast. Every flick must reach the engine and change the motion B shows.
  let watched = null;
  for (let attempt = 0; attempt < FORECAST_ATTEMPTS && !watched?.forecast; attempt++) {
    const before = await gestures();
    watched = await flickWatched(a, b);
    assert.equal(await gestures(), before + 1, 'the flick reached the engine');
    const seen = speedUp(watched.samples, watched.flickedAt);
    assert.ok(seen.first, `no change of motion of ${watched.id} in the second browser (before ${seen.before.toFixed(0)} px/s, after max ${seen.after.toFixed(0)} px/s)`);
    watched.seen = seen;
  }
  const { id, flickedAt, samples, forecast, seen } = watched;
  // B was told of the flick before its tick (an `ev` frame) and its worker painted it at once;
  // the tick then landed exactly where that forecast said.
  assert.ok(forecast, `in ${FORECAST_ATTEMPTS} flicks the second browser got no forecast (last on ${id})`);
  const [, arrived, painted, confirmed] = forecast;
  assert.ok(confirmed, 'the tick matched the forecast bit for bit');
  // `painted` stays null when the tick arrived before a frame showed the product off its path
  // (the forecast shows only past the last confirmed tick; 3 of 20 measured rounds,
  // docs/performance.md): the change of motion asserted above is then the tick's.
  const departed = firstDeparture(samples, flickedAt);
  const paintedAfter = painted === null ? '- (the tick came first)' : `${(painted - flickedAt).toFixed(0)} ms`;
  console.log(`visual latency A→B: event after ${(arrived - flickedAt).toFixed(0)} ms, first frame painted off the old path ${paintedAfter} (worker's record), ${departed ? (departed - flickedAt).toFixed(0) : '-'} ms by pixels; speed change seen at ${(seen.first[0] - flickedAt).toFixed(0)} ms (speed ${seen.before.toFixed(0)} → ${seen.first[1].toFixed(0)} px/s)`);
  await b.page.screenshot({ path: ARTIFACTS + 'after-flick.png' });
  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.context.close();
  await b.context.close();
});

test('where a canvas cannot be handed to the worker, the page moves the cards itself and says so', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // A browser without OffscreenCanvas transfer.
  await page.addInitScript(() => { delete HTMLCanvasElement.prototype.transferControlToOffscreen; });
  const errors = collectErrors(page);
  await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"][data-painter="dom"]', { timeout: 20000 });
  assert.equal(await page.locator('[data-testid="well-canvas"]').count(), 0);
  assert.match(await page.locator('.well-notice').innerText(), /cannot paint the well off the page/);
  const transforms = () => page.locator('.product-grid [data-product-id]').nth(2).evaluate((c) => c.style.transform);
  const first = await transforms();
  await page.waitForTimeout(300);
  assert.notEqual(await transforms(), first, 'the card moved');
  // Asking for the page's painter (`?painter=dom`, for comparisons) shows no notice.
  await page.goto(BASE_URL + '/?painter=dom', { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"][data-painter="dom"]', { timeout: 20000 });
  assert.equal(await page.locator('.well-notice').count(), 0);
  assert.deepEqual(errors.filter((e) => !/the well is drawn by the page/.test(e)), []);
  await context.close();
});

test('a beam from the keyboard puts the product in the cart orbit, and the REST cart agrees', async () => {
  const { context, page, errors } = await openWell();
  const card = page.locator('.product-grid [data-product-id]').nth(7);
  const id = await card.getAttribute('data-product-id');
  await page.locator(`button[data-beam="${id}"]`).focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="1"]', { timeout: 5000 });
  assert.equal(await page.locator(`[data-testid="cart-orbit"] [data-cart-product-id="${id}"]`).count(), 1);
  const response = await fetch(BASE_URL + '/api/cart', { headers: { Authorization: `Bearer ${await token(page)}` } });
  assert.equal(response.status, 200);
  const cart = await response.json();
  assert.deepEqual(cart.items, [{ productId: id, quantity: 1 }]);
  // Drop it again with the token's remove button (keyboard again).
  await page.locator(`[data-testid="cart-orbit"] button[data-drop]`).focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="0"]', { timeout: 5000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test('focusing a card far down the list scrolls nothing; the canvas brings it to the front', async () => {
  const { context, page, errors } = await openWell();
  // The DOM cards stay in their grid under the canvas, clipped to the well's box: the last one lies
  // far below it, and the browser scrolls towards a focused element before any script runs.
  const card = page.locator('.product-grid [data-product-id]').last();
  const id = await card.getAttribute('data-product-id');
  assert.equal(await page.evaluate(() => window.scrollY), 0);
  await card.locator('a').focus();
  await page.waitForTimeout(400);
  assert.equal(await page.evaluate(() => window.scrollY), 0, 'the page did not scroll');
  const layout = await page.evaluate(() => window.__swiftcartLayout());
  const focused = layout.find((e) => e.id === id);
  assert.ok(focused.card, 'drawn as a full card');
  assert.equal(focused.rank, Math.max(...layout.map((e) => e.rank)), 'in front of every other body');
  assert.deepEqual(errors, []);
  await context.close();
});

test('prefers-reduced-motion keeps a still grid with the same features', async () => {
  const { context, page, errors } = await openWell({ reducedMotion: 'reduce' });
  assert.equal(await page.locator('.product-grid.well-orbit').count(), 0, 'no orbit layout');
  const card = page.locator('.product-grid [data-product-id]').nth(1);
  const first = await card.boundingBox();
  await page.waitForTimeout(700);
  assert.deepEqual(await card.boundingBox(), first, 'the card held still');
  const id = await card.getAttribute('data-product-id');
  await page.locator(`button[data-beam="${id}"]`).click();
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="1"]', { timeout: 5000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a killed connection plays the Temporal Paradox and recovers', async () => {
  const { context, page, errors } = await openWell();
  await page.evaluate(() => window.__swiftcartDisconnect());
  await page.waitForSelector('[data-testid="paradox"]:not([hidden])', { timeout: 5000 });
  assert.match(await page.locator('[data-testid="paradox"]').innerText(), /connection dropped/i);
  await page.screenshot({ path: ARTIFACTS + 'paradox.png' });
  await page.waitForSelector('[data-testid="paradox"][hidden]', { state: 'attached', timeout: 15000 });
  const id = await page.locator('.product-grid [data-product-id]').first().getAttribute('data-product-id');
  // Within 3 s of the resync (a busy machine may take a moment) the card orbits again.
  let moving = 0;
  for (let look = 0; look < 6 && moving <= 5; look++) {
    moving = speeds(await recordCard(page, id, 500)).filter(([, v]) => v > 1).length;
  }
  assert.ok(moving > 5, `orbiting again after the resync (${moving} moving samples in the last 500 ms)`);
  assert.deepEqual(errors.filter((e) => !/WebSocket/i.test(e)), []);
  await context.close();
});

test('the well works at phone width', async () => {
  const { context, page, errors } = await openWell({ viewport: { width: 375, height: 812 }, hasTouch: true, isMobile: true });
  assert.ok(await page.locator('.product-grid [data-product-id]').count() >= 60);
  const orbit = await page.locator('[data-testid="cart-orbit"]').boundingBox();
  assert.ok(orbit.x + orbit.width <= 375, 'the cart orbit fits the screen');
  await page.screenshot({ path: ARTIFACTS + 'phone.png' });
  assert.deepEqual(errors, []);
  await context.close();
});
