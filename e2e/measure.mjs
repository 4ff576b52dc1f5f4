// Browser measurements of the Alive UI (docs/performance.md), against a running server:
//   BASE_URL=http://127.0.0.1:3000 node e2e/measure.mjs frames    frame intervals + main-thread time
//   BASE_URL=… node e2e/measure.mjs latency                        flick in A → motion change in B
// Prints one JSON line. Run by scripts/measure-browser.sh, which starts servers with 200, 500 and
// 1,000 products.
import { launch, flickTarget, flickInPage, firstDeparture, recordCard } from './browser.mjs';

const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const SECONDS = Number(process.env.MEASURE_SECONDS ?? 10);
const mode = process.argv[2] ?? 'frames';

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
};
const summary = (values, digits = 2) =>
  Object.fromEntries([50, 95, 99].map((p) => [`p${p}`, Number(percentile(values, p).toFixed(digits))]));

const browser = await launch();
async function open() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 30000 });
  return page;
}

if (mode === 'frames') {
  const page = await open();
  const products = await page.locator('.product-grid [data-product-id]').count();
  await page.waitForTimeout(2000); // warm-up
  const before = await page.evaluate(() => window.__swiftcartStats().intervals.length);
  await page.waitForTimeout(SECONDS * 1000);
  const stats = await page.evaluate(() => window.__swiftcartStats());
  // The stats keep the last 1,200 frames (20 s at 60 FPS): take the measured window.
  const take = (list) => list.slice(-Math.min(list.length, Math.round(SECONDS * 60)));
  console.log(JSON.stringify({
    mode, products, seconds: SECONDS, frames: stats.intervals.length - before > 0 ? take(stats.intervals).length : 0,
    intervalMs: summary(take(stats.intervals)),
    mainThreadMs: summary(take(stats.mainMs)),
    workerManifoldUs: summary(take(stats.manifoldUs), 0),
  }));
} else {
  // Visual latency: A flicks a card (the stroke dispatched in the page at 60 Hz); B records that
  // card's position every animation frame, and the latency is the first frame B renders off the
  // path the card was on (a quadratic fitted to the 500 ms before the release; 8 px off, then further).
  const a = await open();
  const b = await open();
  const results = [];
  for (let round = 0; round < 10; round++) {
    const target = await flickTarget(a);
    if (!target) continue;
    const watching = recordCard(b, target.id, 2000);
    await a.waitForTimeout(700);
    const now = await flickTarget(a, { only: target.id }); // it moved meanwhile
    if (!now) { await watching; continue; }
    const { id, flickedAt } = await flickInPage(a, now);
    const samples = await watching;
    const departed = id === target.id ? firstDeparture(samples, flickedAt) : undefined;
    if (departed) results.push(departed - flickedAt);
    await a.waitForTimeout(1500);
  }
  console.log(JSON.stringify({ mode, rounds: results.length, visualLatencyMs: summary(results, 0), all: results.map((r) => Math.round(r)) }));
}
await browser.close();
