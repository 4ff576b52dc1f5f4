// Shared set-up of the end-to-end tests: Debian's Chromium driven by playwright-core.
import { chromium } from 'playwright-core';

/** The site under test, started by scripts/test.sh. */
export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';

/** Launches headless Chromium with the flags this machine's closed network needs. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Signs `page` in through /login as the admin that scripts/test.sh creates (E2E_ADMIN_*). */
export async function signInAsAdmin(page) {
  await page.goto(BASE_URL + '/login');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#email', process.env.E2E_ADMIN_EMAIL);
  await page.fill('#password', process.env.E2E_ADMIN_PASSWORD);
  await page.locator('[data-testid="sign-in"]').click();
  await page.waitForURL(BASE_URL + '/');
}

/** Collects console errors and uncaught page errors of a page. */
export function collectErrors(page) {
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

/**
 * A card to flick: one the worker painted as a full card that no other painted body covers at its
 * centre, with the direction it is moving on screen, found just before pressing on it since it
 * keeps moving (`only`: that product's card). Positions come from the page's test hook
 * `window.__swiftcartLayout()` (the worker's last layout, a few a second), two looks 150 ms apart.
 * Resolves to `{ id, x, y, dx, dy }`, or `null` when no card is uncovered at its centre.
 */
export function flickTarget(page, { minX = 0, maxX = Infinity, only = null } = {}) {
  return page.evaluate(({ minX, maxX, only }) => new Promise((resolve) => {
    const centre = (e) => [e.x + e.width / 2, e.y + e.height / 3];
    const before = new Map(window.__swiftcartLayout().map((e) => [e.id, centre(e)]));
    setTimeout(() => {
      const layout = window.__swiftcartLayout();
      const cards = layout.filter((e) => e.card && e.rank >= 0).sort((p, q) => q.rank - p.rank);
      for (const card of cards) {
        if (only && card.id !== only) continue;
        const [x, y] = centre(card);
        if (x < minX || x > maxX || !before.has(card.id)) continue;
        const covered = layout.some((o) => o.rank > card.rank && x >= o.x && x <= o.x + o.width && y >= o.y && y <= o.y + o.height);
        // Nothing of the page (the cart orbit, a banner) is over the canvas there.
        if (covered || document.elementFromPoint(x, y)?.getAttribute('data-testid') !== 'well-canvas') continue;
        const [x0, y0] = before.get(card.id);
        const len = Math.hypot(x - x0, y - y0) || 1;
        resolve({ id: card.id, x, y, dx: (x - x0) / len, dy: (y - y0) / len });
        return;
      }
      resolve(null);
    }, 150);
  }), { minX, maxX, only });
}

/**
 * Flicks `target` (from `flickTarget`) with pointer events dispatched inside the page 16 ms apart
 * (a 60 Hz finger), so the stroke's speed does not depend on the driver's round trips.
 * Resolves to `{ id, flickedAt }`: the product flicked and the page time (ms since the epoch) of
 * the release.
 */
export function flickInPage(page, target) {
  return page.evaluate(async ({ x, y, dx, dy, id }) => {
    const el = document.elementFromPoint(x, y);
    const fire = (type, px, py) => el.dispatchEvent(new PointerEvent(type, {
      bubbles: true, cancelable: true, clientX: px, clientY: py, pointerId: 7, pointerType: 'mouse', isPrimary: true,
    }));
    fire('pointerdown', x, y);
    for (let i = 1; i <= 5; i++) {
      await new Promise((r) => setTimeout(r, 16));
      fire('pointermove', x + dx * 40 * i, y + dy * 40 * i);
    }
    const flickedAt = performance.timeOrigin + performance.now();
    fire('pointerup', x + dx * 200, y + dy * 200);
    return { id, flickedAt };
  }, target);
}

/**
 * The first rendered frame at which a card leaves the path it was on: a quadratic fitted to its
 * screen positions over the `fitMs` before `at` is extrapolated, and the first frame after `at`
 * more than `px` pixels off it (and followed by one further off) is the change. `samples` are `[t, x, y]` per animation frame.
 * Resolves to that frame's time, or `undefined`.
 */
export function firstDeparture(samples, at, { fitMs = 500, px = 8 } = {}) {
  const fit = samples.filter(([t]) => t <= at && t >= at - fitMs);
  if (fit.length < 5) return undefined;
  const t0 = fit[0][0];
  const solve = (k) => {
    // Least squares for v = a + b·t + c·t², t in seconds from t0.
    const sums = Array(5).fill(0);
    const rhs = [0, 0, 0];
    for (const s of fit) {
      const t = (s[0] - t0) / 1000;
      for (let p = 0; p < 5; p++) sums[p] += t ** p;
      for (let p = 0; p < 3; p++) rhs[p] += s[k] * t ** p;
    }
    const m = [[sums[0], sums[1], sums[2]], [sums[1], sums[2], sums[3]], [sums[2], sums[3], sums[4]]];
    const det = (a) => a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
      + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    const d = det(m);
    return [0, 1, 2].map((col) => det(m.map((row, r) => row.map((v, c) => (c === col ? rhs[r] : v)))) / d);
  };
  const [cx, cy] = [solve(1), solve(2)];
  const at_ = (c, t) => c[0] + c[1] * t + c[2] * t * t;
  // The first of two consecutive frames off the path, the second further off (not a wobble).
  const off = samples.filter(([t]) => t > at)
    .map(([t, x, y]) => [t, Math.hypot(x - at_(cx, (t - t0) / 1000), y - at_(cy, (t - t0) / 1000))]);
  const k = off.findIndex(([, d], i) => d > px && off[i + 1] && off[i + 1][1] > d);
  return k < 0 ? undefined : off[k][0];
}

/** Where a product was painted in each of the worker's frames for `ms` (the page's test hook
 *  `window.__swiftcartWatch`): `[[t, x, y]]`, page times in ms since the epoch, client pixels. */
export function recordCard(page, productId, ms) {
  return page.evaluate(({ productId, ms }) => new Promise((resolve) => {
    window.__swiftcartWatch(productId);
    // The last frames reach the page with the next layout report (a few a second).
    setTimeout(() => resolve(window.__swiftcartStats().watched), ms + 250);
  }), { productId, ms });
}
