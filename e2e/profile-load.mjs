// Where a first visit's main-thread time goes (docs/performance.md, "First visit"): loads a page
// with the CPU slowed as Lighthouse's mobile preset does (4×), records a Chromium trace until the
// page has been quiet for a while, and prints the page main thread's long tasks (over 50 ms)
// with what each is made of, and the blocking time after the first contentful paint.
//   BASE_URL=http://127.0.0.1:3077 node e2e/profile-load.mjs [/path] [cpu slowdown]
// PROFILE_TRACE=file.json keeps the trace (open it in Chromium's Performance panel).
import { writeFileSync } from 'node:fs';
import { launch } from './browser.mjs';

const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const path = process.argv[2] ?? '/';
const slowdown = Number(process.argv[3] ?? 4);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 412, height: 823 }, deviceScaleFactor: 1.75, isMobile: true });
const cdp = await page.context().newCDPSession(page);
await cdp.send('Emulation.setCPUThrottlingRate', { rate: slowdown });
await browser.startTracing(page, {
  categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'v8', 'blink', 'loading'],
});
await page.goto(BASE_URL + path, { waitUntil: 'load' });
await page.waitForTimeout(6000);
const buffer = await browser.stopTracing();
if (process.env.PROFILE_TRACE) writeFileSync(process.env.PROFILE_TRACE, buffer);
await browser.close();

const events = JSON.parse(buffer.toString()).traceEvents;
const threadNames = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [`${e.pid}:${e.tid}`, e.args.name]));
// The page's renderer is the one that painted its first content; times count from the start of
// the trace (just before the navigation).
const fcp = events.find((e) => e.name === 'firstContentfulPaint');
const mainKey = `${fcp.pid}:${fcp.tid}`;
const start = events.find((e) => e.name === 'TracingStartedInBrowser').ts;
const onMain = events.filter((e) => `${e.pid}:${e.tid}` === mainKey && e.ph === 'X' && e.dur);
// Top-level tasks only: Chromium nests a `ThreadControllerImpl::RunTask` inside a `RunTask`, and
// counting both would count the same time twice.
const tasks = [];
for (const e of onMain.filter((e) => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask')
  .sort((a, b) => a.ts - b.ts || b.dur - a.dur)) {
  const last = tasks[tasks.length - 1];
  if (!last || e.ts >= last.ts + last.dur) tasks.push(e);
}
const ms = (us) => Math.round(us / 100) / 10;
const kinds = ['ParseHTML', 'ParseAuthorStyleSheet', 'EvaluateScript', 'v8.compileModule', 'v8.compile', 'FunctionCall',
  'v8.wasm.compiledModule', 'v8.wasm.instantiate', 'wasm.SyncInstantiate', 'RunMicrotasks', 'UpdateLayoutTree',
  'Layout', 'PrePaint', 'Paint', 'Layerize', 'Commit', 'ImageDecodeTask', 'Decode Image', 'TimerFire', 'FireAnimationFrame',
  'EventDispatch', 'XHRReadyStateChange', 'ResourceReceivedData', 'HitTest', 'GCEvent', 'MajorGC', 'MinorGC',
  'V8.GC_SCAVENGER', 'BlinkGC.AtomicPhase'];
let blockingAfterFcp = 0;
const long = [];
for (const task of tasks) {
  if (task.dur < 50_000) continue;
  const end = task.ts + task.dur;
  if (fcp && end > fcp.ts) blockingAfterFcp += Math.max(0, end - Math.max(task.ts, fcp.ts) - 50_000);
  // Time per kind of event in the task; an event inside another of its kind (a card's `Paint`
  // inside the document's) is already counted.
  const inside = new Map();
  const reachedBy = new Map();
  for (const e of onMain.filter((e) => e.ts >= task.ts && e.ts + e.dur <= end && e !== task && kinds.includes(e.name))
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur)) {
    if (e.ts < (reachedBy.get(e.name) ?? 0)) continue;
    reachedBy.set(e.name, e.ts + e.dur);
    inside.set(e.name, (inside.get(e.name) ?? 0) + e.dur);
  }
  long.push({
    at: ms(task.ts - start), ms: ms(task.dur),
    parts: Object.fromEntries([...inside].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, ms(v)])),
  });
}
console.log(JSON.stringify({
  path, slowdown, mainThread: threadNames.get(mainKey), fcpMs: fcp ? ms(fcp.ts - start) : null,
  blockingAfterFcpMs: ms(blockingAfterFcp), longTasks: long,
}, null, 1));
