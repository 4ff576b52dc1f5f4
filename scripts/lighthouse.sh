#!/usr/bin/env bash
# Lighthouse 12 (mobile defaults) on the Gravity Well and a product page of a running site
# (docs/performance.md, "Alive UI, painted"): prints each category's score and the timing audits.
#   scripts/lighthouse.sh http://127.0.0.1:3077 [slug]
# LIGHTHOUSE_OUT=dir keeps the full JSON reports there (the LCP element, long tasks, …).
# Not part of the test command: Lighthouse (npm, fetched into the npm cache on first use) is a
# measuring tool, and its scores move with the machine's load. Uses Debian's Chromium headless.
set -euo pipefail
base=${1:?usage: scripts/lighthouse.sh BASE_URL [slug]}
slug=${2:-$(curl -sf "$base/api/products" | python3 -c 'import json,sys; print(json.load(sys.stdin)["products"][0]["slug"])')}
out=${LIGHTHOUSE_OUT:-$(mktemp -d)}
mkdir -p "$out"
for path in / "/p/$slug"; do
  name=$(echo "$path" | tr '/' '_')
  CHROME_PATH=${CHROMIUM:-/usr/bin/chromium} npx --yes lighthouse@12.8.2 "$base$path" --quiet \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu" --output=json --output-path="$out/$name.json" >/dev/null
  python3 - "$out/$name.json" "$path" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
scores = {k: round(v["score"] * 100) for k, v in report["categories"].items()}
audits = report["audits"]
timing = {k: audits[k]["displayValue"] for k in
          ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift", "speed-index", "interactive"]
          if k in audits}
print(json.dumps({"path": sys.argv[2], "scores": scores, "timing": timing}))
PY
done
[ -n "${LIGHTHOUSE_OUT:-}" ] || rm -rf "$out"
