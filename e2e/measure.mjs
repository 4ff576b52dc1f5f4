// Browser measurements of the Alive UI (docs/performance.md), against a running server:
//   BASE_URL=http://127.0.0.1:3000 node e2e/measure.mjs frames    frame intervals + main-thread time
//   BASE_URL=… node e2e/measure.mjs latency                        flick in A → motion change in B
// Prints one JSON line. Run by scripts/measure-browser.sh, which starts servers with 200, 500 and
// 1,000 products.
import { launch, flickTarget } from './browser.mjs';

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
  // Visual latency: A flicks a card along its motion; B watches that card every frame and notes
  // the first frame whose speed leaves the band of the second before by 60 %.
  const a = await open();
  const b = await open();
  const results = [];
  for (let round = 0; round < 8; round++) {
    const target = await flickTarget(a, { minX: 60, maxX: 1000 });
    if (!target) continue;
    const watching = b.evaluate((id) => new Promise((resolve) => {
      const card = document.querySelector(`.product-grid [data-product-id="${id}"]`);
      const samples = [];
      const start = performance.now();
      const tick = () => {
        const m = /translate3d\(([-\d.]+)px, ([-\d.]+)px/.exec(card.style.transform);
        samples.push([performance.timeOrigin + performance.now(), +m[1], +m[2]]);
        if (performance.now() - start < 2500) requestAnimationFrame(tick); else resolve(samples);
      };
      requestAnimationFrame(tick);
    }), target.id);
    await a.waitForTimeout(1000);
    await a.mouse.move(target.x, target.y);
    await a.mouse.down();
    await a.mouse.move(target.x + 240 * target.dx, target.y + 240 * target.dy, { steps: 3 });
    const sentAt = await a.evaluate(() => performance.timeOrigin + performance.now());
    await a.mouse.up();
    const samples = await watching;
    const speed = [];
    for (let i = 3; i < samples.length; i++) {
      const [t0, x0, y0] = samples[i - 3];
      const [t1, x1, y1] = samples[i];
      speed.push([t1, Math.hypot(x1 - x0, y1 - y0) / ((t1 - t0) / 1000)]);
    }
    const base = speed.filter(([t]) => t < sentAt - 50).map(([, s]) => s);
    const [low, high] = [Math.min(...base), Math.max(...base)];
    const seen = speed.find(([t, s]) => t > sentAt && (s > high * 1.6 || s < low * 0.6));
    if (seen) results.push(seen[0] - sentAt);
    await a.waitForTimeout(1500);
  }
  console.log(JSON.stringify({ mode, rounds: results.length, visualLatencyMs: summary(results, 0), all: results.map((r) => Math.round(r)) }));
}
await browser.close();
