#!/usr/bin/env bash
# Load test of the real-time pipe: starts release server node(s) on their own database and Redis
# key prefix, then runs the load tool (server/benches/ws_load.rs) against them.
#
#   scripts/load.sh [--products N] [--nodes K] [--clients C] [-- extra load-tool flags]
#
# Example: scripts/load.sh --products 200 --clients 5000 -- --duration 20 --gestures-per-sec 20
# Results go to stdout; docs/performance.md records the runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
cd "$REPO_ROOT"

PRODUCTS=64 NODES=1 CLIENTS=1000
while [[ $# -gt 0 ]]; do
  case $1 in
    --products) PRODUCTS=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

ensure_postgres
ensure_redis
DB=swiftcart_load_${PRODUCTS}
ensure_database "$DB"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export SWIFTCART_REDIS_PREFIX=load${PRODUCTS}:
say "building the server and the load tool (release)"
# Leptos bakes the hydrate bundle's file name into the server at compile time from
# LEPTOS_OUTPUT_NAME (cargo-leptos sets it): without it this release server would ask pages
# for /pkg/swiftcart_bg.wasm, which cargo-leptos does not write, and break the release site.
LEPTOS_OUTPUT_NAME=swiftcart cargo build -q --release -p server --bin server --bench ws_load
target/release/server seed --fill-to "$PRODUCTS" >/dev/null

# Each process may hold one socket per client.
ulimit -n "$(ulimit -Hn)"
pids=() urls=() origins=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
for ((k = 0; k < NODES; k++)); do
  port=$((3100 + k))
  urls+=(--url "http://127.0.0.1:$port")
  origins+=("http://127.0.0.1:$port")
done
allowed=$(IFS=,; echo "${origins[*]}")
for ((k = 0; k < NODES; k++)); do
  # Every client comes from this machine: no per-address connection limit.
  LEPTOS_SITE_ADDR=127.0.0.1:$((3100 + k)) SWIFTCART_ALLOWED_ORIGINS=$allowed RUST_LOG=${RUST_LOG:-warn} \
    SWIFTCART_CONNECTIONS_PER_ADDRESS=0 \
    target/release/server serve &
  pids+=($!)
done
for ((k = 0; k < NODES; k++)); do
  until curl -sf "http://127.0.0.1:$((3100 + k))/healthz" >/dev/null; do sleep 0.2; done
done
say "load: $CLIENTS clients, $PRODUCTS products, $NODES node(s)"
server_pids=()
for p in "${pids[@]}"; do server_pids+=(--server-pid "$p"); done
"$(ls -t target/release/deps/ws_load-* | grep -v '\.d$' | head -1)" "${urls[@]}" --clients "$CLIENTS" "${server_pids[@]}" "$@"
