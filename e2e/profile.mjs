// Where a frame's time goes (docs/performance.md): records a Chromium trace of the Gravity Well
// for 3 s and sums the main-thread and raster events by name.
//   BASE_URL=http://127.0.0.1:3077 node e2e/profile.mjs
import { launch } from './browser.mjs';

const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(BASE_URL + '/', { waitUntil: 'networkidle' });
await page.waitForSelector('.product-grid[data-alive="synced"]', { timeout: 30000 });
await page.waitForTimeout(2000);
await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
await page.waitForTimeout(3000);
const trace = JSON.parse((await browser.stopTracing()).toString());
const totals = new Map();
for (const e of trace.traceEvents) {
  if (e.ph !== 'X' || !e.dur) continue;
  const name = e.name;
  if (!['FunctionCall', 'FireAnimationFrame', 'UpdateLayoutTree', 'Layout', 'Paint', 'PrePaint',
    'Layerize', 'RasterTask', 'CompositeLayers', 'UpdateLayer', 'HitTest', 'EventDispatch',
    'v8.callFunction', 'ParseHTML', 'Commit', 'PaintImage', 'ImageDecodeTask', 'GPUTask',
    'ProxyMain::BeginMainFrame::commit', 'ThreadProxy::ScheduledActionDraw', 'Graphics.Pipeline'].includes(name)) continue;
  totals.set(name, (totals.get(name) ?? 0) + e.dur / 1000);
}
const products = await page.locator('.product-grid [data-product-id]').count();
console.log(JSON.stringify({ products, msPer3s: Object.fromEntries([...totals].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v)])) }));
await browser.close();
