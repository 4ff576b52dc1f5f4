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

/** Collects console errors and uncaught page errors of a page. */
export function collectErrors(page) {
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

/**
 * A card to flick: one whose centre no other card covers (they overlap in orbit), with the
 * direction it is moving on screen, found just before pressing on it since it keeps moving.
 * Resolves to `{ id, x, y, dx, dy }`, or `null` when no card is on top at its centre.
 */
export function flickTarget(page, { minX = 0, maxX = Infinity } = {}) {
  return page.evaluate(({ minX, maxX }) => new Promise((resolve) => {
    const at = (card) => /translate3d\(([-\d.]+)px, ([-\d.]+)px/.exec(card.style.transform).slice(1).map(Number);
    const cards = [...document.querySelectorAll('.product-grid [data-product-id]')];
    const before = cards.map(at);
    setTimeout(() => {
      for (const [k, card] of cards.entries()) {
        const r = card.getBoundingClientRect();
        const [x, y] = [r.left + r.width / 2, r.top + r.height / 3];
        if (x < minX || x > maxX || document.elementFromPoint(x, y)?.closest('[data-product-id]') !== card) continue;
        const [x1, y1] = at(card);
        const len = Math.hypot(x1 - before[k][0], y1 - before[k][1]) || 1;
        resolve({ id: card.getAttribute('data-product-id'), x, y, dx: (x1 - before[k][0]) / len, dy: (y1 - before[k][1]) / len });
        return;
      }
      resolve(null);
    }, 50);
  }), { minX, maxX });
}
