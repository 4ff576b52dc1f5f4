#!/usr/bin/env bash
# Builds the physics Web Worker bundle into public/worker/ (served at /worker/worker.<hash>.js,
# with worker_bg.<hash>.wasm; the server finds the names when it starts).
#   scripts/build-worker.sh           debug build (fast; what `cargo leptos watch` needs)
#   scripts/build-worker.sh release   size-optimised build with wasm-opt
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
build_worker "$([ "${1:-}" = release ] && echo wasm-release || echo dev)"
ls -l "$REPO_ROOT/public/worker"
