#!/usr/bin/env bash
# The Alive UI measured in headless Chromium (docs/performance.md, "Alive UI"):
#   release bundles and their gzip sizes; presented frames from Chromium's trace, page main-thread
#   busy time and worker paint time with 200, 500 and 1,000 products, for the worker's canvas and
#   the page's DOM painter; visual latency of a flick from one browser to another.
# MEASURE_SIZES (default "200 500 1000") picks the catalog sizes; the latency runs at 200
# (MEASURE_ROUNDS rounds, default 20).
# Each catalog size gets its own database (swiftcart_measure_<n>) and Redis prefix; a release server
# per size is started and stopped here.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
cd "$REPO_ROOT"

prepare_machine --with-browser
build_worker wasm-release
cargo leptos build --release --split --precompress
mkdir -p target/site/worker && cp public/worker/* target/site/worker/

say "bundle sizes (gzip -9)"
# The bundles' names carry their content's hash: swiftcart.<hash>.wasm, worker_bg.<hash>.wasm.
for f in target/site/pkg/swiftcart.*.wasm public/worker/worker_bg.*.wasm; do
  [ -f "$f" ] && printf '  %-40s %8d bytes, %8d gzip\n' "$f" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
done

port=3077
for products in ${MEASURE_SIZES:-200 500 1000}; do
  db="swiftcart_measure_$products"
  ensure_database "$db"
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" SWIFTCART_REDIS_PREFIX="measure$products:"
  export LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site
  target/release/server seed --fill-to "$products" >/dev/null
  target/release/server serve >"target/measure-$products.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 60); do curl -sf "http://$LEPTOS_SITE_ADDR/healthz" >/dev/null && break; sleep 0.5; done
  say "$products products: frames over ${MEASURE_SECONDS:-10} s"
  BASE_URL="http://$LEPTOS_SITE_ADDR" node e2e/measure.mjs frames
  say "$products products: the same with the page's DOM painter (?painter=dom), for comparison"
  MEASURE_PAINTER=dom BASE_URL="http://$LEPTOS_SITE_ADDR" node e2e/measure.mjs frames
  if [ "$products" = 200 ]; then
    say "$products products: visual latency of a flick, browser A → browser B (gesture events on)"
    BASE_URL="http://$LEPTOS_SITE_ADDR" node e2e/measure.mjs latency
    say "$products products: the same with SWIFTCART_GESTURE_EVENTS=off (the tick only), for comparison"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    SWIFTCART_GESTURE_EVENTS=off target/release/server serve >"target/measure-$products-no-events.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 60); do curl -sf "http://$LEPTOS_SITE_ADDR/healthz" >/dev/null && break; sleep 0.5; done
    BASE_URL="http://$LEPTOS_SITE_ADDR" node e2e/measure.mjs latency
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
