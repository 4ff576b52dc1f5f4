// Hyperdrive in Chromium: a shopper beams two products, is asked to sign in, registers (the cart
// orbit comes along), pays with a test card in Stripe.js (localstripe's) and finds the order in
// /orders at the frozen prices; a declined card plays the Temporal Paradox and leaves the cart
// and the stock as they were; the product page charts the logged prices; an admin sets stock,
// creates and retires products from /admin, and a connected shopper sees it live. Screenshots go
// to target/e2e-artifacts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { BASE_URL, launch, collectErrors, signInAsAdmin } from './browser.mjs';

const ARTIFACTS = new URL('../target/e2e-artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });
const PASSWORD = 'warp-speed-2026';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openWell() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });
  return { context, page, errors };
}

async function api(page, path) {
  const token = await page.evaluate(() => localStorage.getItem('swiftcart.token'));
  const response = await fetch(BASE_URL + path, { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json() };
}

/** Products with plenty of stock, so other tests' purchases cannot make these fail. */
async function stockedProducts(count, skip = 0) {
  const { products } = await (await fetch(BASE_URL + '/api/products')).json();
  return products.filter((p) => p.stockLevel >= 10).slice(skip, skip + count);
}

async function stockLevel(productId) {
  const { products } = await (await fetch(BASE_URL + '/api/products')).json();
  return products.find((p) => p.productId === productId).stockLevel;
}

async function beam(page, productId, expectedCount) {
  await page.locator(`button[data-beam="${productId}"]`).focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector(`[data-testid="cart-orbit"][data-count="${expectedCount}"]`, { timeout: 5000 });
}

/** Opens the warp and types a card into Stripe.js's card element; resolves to the quote. */
async function startHyperdrive(page, cardNumber) {
  const quoted = page.waitForResponse((r) => r.url().endsWith('/api/checkout/quote'));
  await page.locator('[data-testid="checkout"]').click();
  const quote = await (await quoted).json();
  await page.waitForSelector('[data-testid="warping"]:not([hidden])');
  await page.waitForSelector('[data-testid="pay"]:not([disabled])', { timeout: 10000 });
  // localstripe's Stripe.js runs in a frame of its own inside the card entry (as Stripe's fields do).
  const card = page.frameLocator('.card-entry iframe');
  await card.locator('input[placeholder="number"]').fill(cardNumber);
  await card.locator('input[placeholder="exp_month"]').fill('12');
  await card.locator('input[placeholder="exp_year"]').fill('34');
  await card.locator('input[placeholder="cvc"]').fill('123');
  await card.locator('input[placeholder="postal_code"]').fill('10001');
  return quote;
}

test('beam two products, sign in, pay with a test card, see the order at the frozen prices', async () => {
  const { context, page, errors } = await openWell();
  const [first, second] = await stockedProducts(2);
  await beam(page, first.productId, 1);
  await beam(page, second.productId, 2);

  // A guest is asked to sign in, and keeps the cart orbit.
  await page.locator('[data-testid="checkout"]').click();
  await page.waitForSelector('.checkout-sign-in:not([hidden])');
  assert.match(await page.locator('.checkout-notice').innerText(), /needs an account/);
  assert.equal(await page.locator('[data-testid="warping"]').isHidden(), true);
  await page.locator('.checkout-sign-in a[href="/register"]').click();
  await page.waitForURL(BASE_URL + '/register');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#email', `pilot-${Date.now()}@swiftcart.test`);
  await page.fill('#password', PASSWORD);
  await page.locator('[data-testid="sign-in"]').click();
  await page.waitForURL(BASE_URL + '/');
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="2"]', { timeout: 5000 });

  const quote = await startHyperdrive(page, '4242424242424242');
  assert.equal(quote.items.length, 2);
  assert.match(await page.locator('.warp-countdown').innerText(), /Prices frozen for \d+ s/);
  for (const item of quote.items) {
    assert.equal(await page.locator(`.warp-items [data-product-id="${item.productId}"]`).getAttribute('data-unit-price-cents'),
      String(item.unitPriceCents));
  }
  await page.screenshot({ path: ARTIFACTS + 'hyperdrive-warp.png' });
  await page.locator('[data-testid="pay"]').click();
  await page.waitForSelector('[data-testid="order-placed"]:not([hidden])', { timeout: 15000 });
  assert.equal(await page.locator('[data-testid="order-placed"]').getAttribute('data-status'), 'paid');
  assert.equal(await page.locator('[data-testid="warping"]').isHidden(), true, 'the warp ends');
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="0"]', { timeout: 5000 });
  await page.screenshot({ path: ARTIFACTS + 'hyperdrive-paid.png' });

  // The card number never left the browser for our server: only Stripe's id was sent.
  await page.locator('[data-testid="order-placed"] a[href="/orders"]').click();
  await page.waitForURL(BASE_URL + '/orders');
  const order = page.locator('.order').first();
  await order.waitFor({ timeout: 10000 });
  assert.equal(await order.getAttribute('data-status'), 'paid');
  for (const item of quote.items) {
    assert.equal(await order.locator(`[data-product-id="${item.productId}"]`).getAttribute('data-unit-price-cents'),
      String(item.unitPriceCents), 'charged at the frozen price');
  }
  assert.match(await order.innerText(), new RegExp(`\\$${(quote.totalCents / 100).toFixed(2).replace('.', '\\.')}`));
  await page.screenshot({ path: ARTIFACTS + 'orders.png' });
  assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), [], 'only the guest\'s expected 401');
  await context.close();
});

test('a declined card plays the Temporal Paradox; the cart orbit and the stock are as before', async () => {
  // An account made through the API, signed in through /login.
  const email = `decline-${Date.now()}@swiftcart.test`;
  const registered = await fetch(BASE_URL + '/api/auth/register', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(registered.status, 201);
  const { context, page, errors } = await openWell();
  await page.goto(BASE_URL + '/login');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#email', email);
  await page.fill('#password', 'not-the-password-1');
  await page.locator('[data-testid="sign-in"]').click();
  await page.waitForSelector('.form-message:text-matches(".+")');
  assert.equal(page.url(), BASE_URL + '/login', 'a wrong password stays on the page with a message');
  await page.fill('#password', PASSWORD);
  await page.locator('[data-testid="sign-in"]').click();
  await page.waitForURL(BASE_URL + '/');
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });

  const [product] = await stockedProducts(1, 5);
  await beam(page, product.productId, 1);
  const stockBefore = await stockLevel(product.productId);
  const cartBefore = (await api(page, '/api/cart')).body;

  // Cancel gives the reserved unit back at once.
  await page.locator('[data-testid="checkout"]').click();
  await page.waitForSelector('[data-testid="pay"]:not([disabled])', { timeout: 10000 });
  assert.equal(await stockLevel(product.productId), stockBefore - 1, 'the quote holds one unit');
  await page.locator('.warp-cancel').click();
  await page.waitForSelector('.checkout-notice:text-matches("went back")');
  assert.equal(await page.locator('[data-testid="warping"]').isHidden(), true);
  assert.equal(await stockLevel(product.productId), stockBefore);

  await startHyperdrive(page, '4000000000000341');
  const charged = page.waitForResponse((r) => r.url().endsWith('/api/checkout'));
  await page.locator('[data-testid="pay"]').click();
  const answer = await charged;
  assert.equal(answer.status(), 409);
  assert.equal((await answer.json()).reason, 'payment_failed');
  await page.waitForSelector('[data-testid="paradox"]:not([hidden])', { timeout: 5000 });
  assert.match(await page.locator('[data-testid="paradox"]').innerText(), /declined/);
  assert.equal(await page.locator('[data-testid="warping"]').isHidden(), true);
  await page.screenshot({ path: ARTIFACTS + 'hyperdrive-declined.png' });

  assert.deepEqual((await api(page, '/api/cart')).body, cartBefore, 'the cart is unchanged');
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="1"]');
  assert.equal(await stockLevel(product.productId), stockBefore, 'the reservation was released');
  const orders = await api(page, '/api/orders');
  assert.equal(orders.body.orders.filter((o) => o.status === 'paid').length, 0, 'nothing was paid');
  assert.deepEqual(errors.filter((e) => !/status of (401|409)/.test(e)), [], 'only the expected 401 and 409');
  await context.close();
});

/** A new account (made through the API), signed in through /login, on the Gravity Well. */
async function signedInWell(prefix) {
  const email = `${prefix}-${Date.now()}@swiftcart.test`;
  const registered = await fetch(BASE_URL + '/api/auth/register', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(registered.status, 201);
  const opened = await openWell();
  const { page } = opened;
  await page.goto(BASE_URL + '/login');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.locator('[data-testid="sign-in"]').click();
  await page.waitForURL(BASE_URL + '/');
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });
  return { ...opened, email };
}

/** Pays the open warp with a card whose bank asks for 3-D Secure and answers its check. */
async function payWithBankCheck(page, choice) {
  const charged = page.waitForResponse((r) => r.url().endsWith('/api/checkout'));
  await page.locator('[data-testid="pay"]').click();
  const answer = await charged;
  assert.equal(answer.status(), 202, 'the bank asks first');
  const body = await answer.json();
  assert.equal(body.status, 'requires_action');
  assert.ok(body.clientSecret.startsWith(body.paymentIntentId), 'the intent\'s client secret, for Stripe.js');
  await page.waitForSelector('[data-testid="warping"][data-step="authenticating"]', { timeout: 5000 });
  // localstripe's Stripe.js shows the bank's choice inside its card frame.
  await page.frameLocator('.card-entry iframe').getByRole('button', { name: choice }).click();
  return body;
}

test('a card that asks for 3-D Secure: failing plays the paradox, completing pays; signing out leaves a guest', async () => {
  const { context, page, errors } = await signedInWell('secure');
  const [product] = await stockedProducts(1, 7);
  await beam(page, product.productId, 1);
  const stockBefore = await stockLevel(product.productId);
  const cartBefore = (await api(page, '/api/cart')).body;

  // The shopper fails the bank's check: the paradox says so; stock and cart are as before.
  await startHyperdrive(page, '4000002500003155');
  const settled = page.waitForResponse((r) => r.url().endsWith('/settle'));
  await payWithBankCheck(page, 'Fail authentication');
  assert.equal((await settled).status(), 409);
  await page.waitForSelector('[data-testid="paradox"]:not([hidden])', { timeout: 10000 });
  assert.match(await page.locator('[data-testid="paradox"]').innerText(), /your bank did not confirm the payment/i);
  assert.equal(await page.locator('[data-testid="warping"]').isHidden(), true);
  await page.screenshot({ path: ARTIFACTS + 'hyperdrive-bank-refused.png' });
  assert.deepEqual((await api(page, '/api/cart')).body, cartBefore, 'the cart is unchanged');
  assert.equal(await stockLevel(product.productId), stockBefore, 'the held unit went back at once');
  let orders = (await api(page, '/api/orders')).body.orders;
  assert.deepEqual(orders.map((o) => o.status), ['failed']);

  // Again, completing the check: the order is placed at the frozen price.
  const quote = await startHyperdrive(page, '4000002500003155');
  await payWithBankCheck(page, 'Complete authentication');
  await page.waitForSelector('[data-testid="order-placed"]:not([hidden])', { timeout: 15000 });
  assert.equal(await page.locator('[data-testid="order-placed"]').getAttribute('data-status'), 'paid');
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="0"]', { timeout: 5000 });
  assert.equal(await stockLevel(product.productId), stockBefore - 1);
  orders = (await api(page, '/api/orders')).body.orders;
  assert.deepEqual(orders.map((o) => o.status), ['paid', 'failed']);
  assert.equal(orders[0].totalCents, quote.totalCents, 'charged the frozen total');

  // Sign out: the session ends on the server and the page is a guest with an empty cart orbit.
  await beam(page, product.productId, 1);
  const refreshToken = await page.evaluate(() => localStorage.getItem('swiftcart.refreshToken'));
  await page.locator('[data-testid="sign-out"]').click();
  await page.waitForSelector('.site-nav a[href="/login"]', { timeout: 10000 });
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 20000 });
  await page.waitForSelector('[data-testid="cart-orbit"][data-count="0"]', { timeout: 5000 });
  assert.equal(await page.locator('[data-testid="sign-out"]').count(), 0);
  assert.deepEqual((await api(page, '/api/cart')).body.items, [], 'a guest with an empty cart orbit');
  const reused = await fetch(BASE_URL + '/api/auth/refresh', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken }),
  });
  assert.equal(reused.status, 401, 'the signed-out session cannot be renewed');
  assert.deepEqual(errors.filter((e) => !/status of (401|409)/.test(e)), [], 'only the expected 401 and 409');
  await context.close();
});

test('an admin refunds one line in /admin/orders; the shopper sees the order partially refunded', async () => {
  const shopper = await signedInWell('refunded');
  const [first, second] = await stockedProducts(2, 9);
  await beam(shopper.page, first.productId, 1);
  await beam(shopper.page, second.productId, 2);
  const quote = await startHyperdrive(shopper.page, '4242424242424242');
  await shopper.page.locator('[data-testid="pay"]').click();
  await shopper.page.waitForSelector('[data-testid="order-placed"][data-status="paid"]', { timeout: 15000 });
  const orderId = await shopper.page.locator('[data-testid="order-placed"]').getAttribute('data-order-id');
  const line = quote.items.find((i) => i.productId === first.productId);
  const stockBefore = await stockLevel(first.productId);

  const admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await admin.newPage();
  const errors = collectErrors(page);
  await signInAsAdmin(page);
  await page.goto(BASE_URL + '/admin/orders');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.waitForSelector('.desk-order', { timeout: 10000 });
  // Filtered by status and by part of the shopper's email.
  await page.selectOption('.desk-filters select', 'paid');
  await page.fill('.desk-filters input[name="email"]', shopper.email.slice(0, 14).toUpperCase());
  await page.locator('[data-testid="desk-filter"]').click();
  const row = page.locator(`.desk-order[data-order-id="${orderId}"]`);
  await row.waitFor({ timeout: 10000 });
  assert.equal(await row.getAttribute('data-status'), 'paid');
  await row.locator('button[data-action="open"]').click();
  const panel = page.locator(`[data-testid="desk-order"][data-order-id="${orderId}"]`);
  await panel.waitFor();
  assert.match(await panel.innerText(), /PaymentIntent: pi_/);
  assert.deepEqual(await panel.locator('.desk-timeline li').evaluateAll((items) => items.map((li) => li.dataset.event)),
    ['quoted', 'charged', 'paid']);
  const refundLine = panel.locator(`.desk-line[data-product-id="${first.productId}"]`);
  await refundLine.locator('input[name="restock"]').check();
  await refundLine.locator('button[data-action="refund-line"]').click();
  await page.waitForSelector(`[data-testid="desk-order"][data-status="partially_refunded"]`, { timeout: 10000 });
  assert.match(await page.locator('[data-testid="desk-message"]').innerText(), /Refunded/);
  await page.screenshot({ path: ARTIFACTS + 'orders-desk-refund.png' });
  assert.equal(await stockLevel(first.productId), stockBefore + 1, 'the unit went back in stock');

  await shopper.page.goto(BASE_URL + '/orders');
  const order = shopper.page.locator(`.order[data-order-id="${orderId}"]`);
  await order.waitFor({ timeout: 10000 });
  assert.equal(await order.getAttribute('data-status'), 'partially_refunded');
  assert.match(await order.innerText(), /partly refunded/);
  const mine = (await api(shopper.page, '/api/orders')).body.orders.find((o) => o.orderId === orderId);
  assert.equal(mine.refundedCents, line.unitPriceCents, 'one unit at its frozen price');
  assert.deepEqual([...errors, ...shopper.errors].filter((e) => !/status of 401/.test(e)), []);
  await admin.close();
  await shopper.context.close();
});

/** A product whose live price is moving right now (one at its floor price holds still). */
async function movingProduct() {
  const read = async () => (await (await fetch(BASE_URL + '/api/products')).json()).products;
  const before = await read();
  await new Promise((r) => setTimeout(r, 1500));
  const after = await read();
  return after.find((p) => p.priceCurrentCents !== before.find((b) => b.productId === p.productId).priceCurrentCents);
}

test('the product page shows the live price and charts its logged prices', async () => {
  const product = await movingProduct();
  assert.ok(product, 'some price is moving');
  const page = await browser.newPage();
  const errors = collectErrors(page);
  await page.goto(`${BASE_URL}/p/${product.slug}`, { waitUntil: 'networkidle' });
  const chart = page.locator('[data-testid="price-chart"]');
  assert.ok(Number(await chart.getAttribute('data-points')) >= 2, 'logged prices are charted');
  assert.ok((await chart.locator('polyline').getAttribute('points')).split(' ').length >= 2);
  assert.match(await chart.locator('figcaption').innerText(), /logged prices, from \$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  // The live price follows the engine: it decays, so it changes within a few seconds.
  const shown = await page.locator('.product-detail').getAttribute('data-price-cents');
  await page.waitForFunction((cents) => document.querySelector('.product-detail').dataset.priceCents !== cents,
    shown, { timeout: 10000 });
  await page.screenshot({ path: ARTIFACTS + 'product-page.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('an admin sets stock, creates and retires products from /admin, and a connected shopper sees it live', async () => {
  assert.ok(process.env.E2E_ADMIN_EMAIL && process.env.E2E_ADMIN_PASSWORD, 'scripts/test.sh creates the admin');
  const [product] = await stockedProducts(1, 9);
  const shopper = await openWell();
  const admin = await browser.newContext();
  const page = await admin.newPage();
  const errors = collectErrors(page);
  await page.goto(BASE_URL + '/admin');
  await page.waitForSelector('.admin [role="alert"]:text-matches("for admins")', { timeout: 10000 });
  await signInAsAdmin(page);
  await page.goto(BASE_URL + '/admin');
  const row = page.locator(`tr[data-product-id="${product.productId}"]`);
  await row.waitFor({ timeout: 10000 });
  await row.locator('input[name="stock"]').fill('3');
  await row.locator('button[data-action="stock"]').click();
  await page.waitForSelector('[data-testid="admin-message"]:text-matches("Stock of .* set")');
  assert.equal(await stockLevel(product.productId), 3);
  // The shopper's page, open all along, shows the new stock without a reload.
  await shopper.page.waitForFunction((id) => /Only 3 left/.test(
    document.querySelector(`.product-grid [data-product-id="${id}"] .stock`)?.textContent ?? ''), product.productId,
  { timeout: 10000 });
  // A product created in /admin joins the connected shopper's well; retiring it takes it out.
  const stamp = Date.now();
  const slug = `nova-lamp-${stamp}`;
  const form = page.locator('.admin-create');
  await form.locator('input[name="slug"]').fill(slug);
  await form.locator('input[name="name"]').fill(`Nova Lamp ${stamp}`);
  await form.locator('input[name="msrp"]').fill('59.00');
  await form.locator('input[name="stock"]').fill('4');
  await form.locator('button[type="submit"]').click();
  await page.waitForSelector(`[data-testid="admin-message"]:text-matches("Created ${slug}")`);
  const card = shopper.page.locator('.product-grid [data-product-id]', { hasText: `Nova Lamp ${stamp}` });
  await card.waitFor({ timeout: 10000 });
  const cents = Number(await card.getAttribute('data-price-cents'));
  assert.ok(cents > 2950 && cents <= 5900, `a live price between the floor and the list price: ${cents}`);
  // textContent: a card outside the well's box is not rendered (content-visibility), so it has no
  // innerText, but its words are in the document and the accessibility tree.
  assert.equal(await card.locator('.stock').textContent(), 'Only 4 left');
  await page.locator(`tr[data-slug="${slug}"] button[data-action="retire"]`).click();
  await page.waitForSelector('[data-testid="admin-message"]:text-matches("retired")');
  await card.waitFor({ state: 'hidden', timeout: 10000 });
  await row.locator('input[name="msrp"]').fill('abc');
  await row.locator('button[data-action="save"]').click();
  await page.waitForSelector('[data-testid="admin-message"]:text-matches("not a price")');
  assert.deepEqual([...errors, ...shopper.errors].filter((e) => !/status of (401|403|422)/.test(e)), []);
  await shopper.context.close();
  await admin.close();
});
