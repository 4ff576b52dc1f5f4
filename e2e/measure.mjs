// Browser measurements of the Alive UI (docs/performance.md), against a running server:
//   BASE_URL=http://127.0.0.1:3000 node e2e/measure.mjs frames    presented frames (Chromium trace),
//                                                                  main-thread busy time, worker paint time
//   BASE_URL=… node e2e/measure.mjs latency                        flick in A → first frame B paints it (20 rounds)
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
  // MEASURE_PAINTER=dom measures the page's own DOM painter instead (for a comparison in one run).
  await page.goto(BASE_URL + (process.env.MEASURE_PAINTER === 'dom' ? '/?painter=dom' : '/'), { waitUntil: 'networkidle' });
  await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 30000 });
  return page;
}

if (mode === 'frames') {
  const page = await open();
  const products = await page.locator('.product-grid [data-product-id]').count();
  await page.waitForTimeout(2000); // warm-up
  const before = await page.evaluate(() => {
    const s = window.__swiftcartStats();
    return { paint: s.paintMs.length, intervals: s.intervals.length };
  });
  // Chromium's own reports: the display compositor (viz) draws and swaps once per frame the
  // display presents (Display::DrawAndSwap), whoever produced it (the page or the worker's
  // canvas); top-level tasks on the page's main thread give its busy time.
  await browser.startTracing(page, { categories: ['toplevel', 'viz'] });
  await page.waitForTimeout(SECONDS * 1000);
  const trace = JSON.parse((await browser.stopTracing()).toString()).traceEvents;
  const stats = await page.evaluate(() => window.__swiftcartStats());
  const mainThreads = trace.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args.name === 'CrRendererMain');
  const tasks = trace.filter((e) => e.name === 'ThreadControllerImpl::RunTask' && e.ph === 'X' && e.dur);
  // The page's renderer: the main thread that ran the most tasks.
  const busiest = mainThreads.map((m) => ({ m, n: tasks.filter((e) => e.pid === m.pid && e.tid === m.tid).length }))
    .sort((x, y) => y.n - x.n)[0].m;
  const mainBusyMs = tasks.filter((e) => e.pid === busiest.pid && e.tid === busiest.tid).reduce((sum, e) => sum + e.dur / 1000, 0);
  const draws = trace.filter((e) => e.name === 'Display::DrawAndSwap' && e.ph === 'X').map((e) => e.ts).sort((x, y) => x - y);
  const presented = draws.slice(1).map((ts, k) => (ts - draws[k]) / 1000);
  const span = draws.length > 1 ? (draws.at(-1) - draws[0]) / 1e6 : NaN;
  const painter = stats.painter;
  console.log(JSON.stringify({
    mode, products, seconds: SECONDS, painter,
    presentedFps: Number(((draws.length - 1) / span).toFixed(1)),
    presentedIntervalMs: summary(presented),
    mainThreadBusyPct: Number((mainBusyMs / (SECONDS * 1000) * 100).toFixed(1)),
    workerPaintMs: painter === 'worker' ? summary(stats.paintMs.slice(before.paint)) : undefined,
    workerFrameIntervalMs: painter === 'worker' ? summary(stats.workerIntervals) : undefined,
    pageFrameIntervalMs: painter === 'dom' ? summary(stats.intervals.slice(-Math.round(SECONDS * 60))) : undefined,
  }));
} else {
  // Visual latency of another shopper's flick: A flicks a card (the stroke dispatched in the page
  // at 60 Hz) and B's worker records, frame-exact, the first frame it painted that card off the
  // path it was on (window.__swiftcartStats().forecasts: the `ev` frame's arrival and that
  // frame's time). As a cross-check, B also records the card's painted position every frame and
  // the first frame 8 px off a quadratic fitted to the 500 ms before the release is found too.
  const rounds = Number(process.env.MEASURE_ROUNDS ?? 20);
  const a = await open();
  const b = await open();
  const frameExact = [];
  const eventArrival = [];
  const pixels = [];
  let confirmed = 0;
  let settled = 0;
  for (let round = 0; round < rounds; round++) {
    const target = await flickTarget(a);
    if (!target) continue;
    const watching = recordCard(b, target.id, 2000);
    await a.waitForTimeout(700);
    const now = await flickTarget(a, { only: target.id }); // it moved meanwhile
    if (!now) { await watching; continue; }
    const { id, flickedAt } = await flickInPage(a, now);
    const samples = await watching;
    if (id !== target.id) continue;
    const departed = firstDeparture(samples, flickedAt);
    if (departed) pixels.push(departed - flickedAt);
    const forecasts = await b.evaluate(() => window.__swiftcartStats().forecasts);
    const mine = forecasts.find(([pid, arrived]) => pid === id && arrived >= flickedAt);
    if (mine) {
      settled += 1;
      if (mine[3]) confirmed += 1;
      eventArrival.push(mine[1] - flickedAt);
      if (mine[2] !== null) frameExact.push(mine[2] - flickedAt);
    }
    await a.waitForTimeout(1500);
  }
  console.log(JSON.stringify({
    mode, rounds,
    frameExactMs: { n: frameExact.length, ...summary(frameExact, 0), all: frameExact.map(Math.round) },
    eventArrivalMs: { n: eventArrival.length, ...summary(eventArrival, 1) },
    forecastsConfirmedBitForBit: `${confirmed}/${settled}`,
    pixelDepartureMs: { n: pixels.length, ...summary(pixels, 0) },
  }));
}
await browser.close();
