#!/usr/bin/env bash
# The abuse run of issue 12: starts a release node with its defaults (limits on) on its own
# database and Redis key prefix, floods it with server/benches/abuse.rs (guest sessions, sockets,
# 1 MiB bodies, silent and half-sent connections) and prints its memory before and after.
#
#   scripts/abuse.sh [-- extra abuse-tool flags]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
cd "$REPO_ROOT"
[ "${1:-}" = "--" ] && shift

ensure_postgres
ensure_redis
DB=swiftcart_abuse
ensure_database "$DB"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB SWIFTCART_REDIS_PREFIX=abuse:
say "building the server and the abuse tool (release)"
# Leptos bakes the hydrate bundle's file name into the server at compile time from
# LEPTOS_OUTPUT_NAME (cargo-leptos sets it): without it this release server would ask pages
# for /pkg/swiftcart_bg.wasm, which cargo-leptos does not write, and break the release site.
LEPTOS_OUTPUT_NAME=swiftcart cargo build -q --release -p server --bin server --bench abuse
target/release/server seed >/dev/null
ulimit -n "$(ulimit -Hn)"
LEPTOS_SITE_ADDR=127.0.0.1:3200 SWIFTCART_ALLOWED_ORIGINS=http://127.0.0.1:3200 RUST_LOG=${RUST_LOG:-warn} \
  target/release/server serve &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:3200/healthz >/dev/null; do sleep 0.2; done
sleep 3
"$(ls -t target/release/deps/abuse-* | grep -v '\.d$' | head -1)" --url http://127.0.0.1:3200 --server-pid "$pid" "$@"
