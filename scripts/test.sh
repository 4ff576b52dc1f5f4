#!/usr/bin/env bash
# Passes every test: prepares the machine like scripts/run.sh plus Chromium, then runs
#   1. formatting and clippy,
#   2. all Rust tests against the real PostgreSQL and Redis (each test has its own database and
#      Redis key prefix, so nothing touches the developer's data),
#   3. the wasm tests in headless Chromium (wasm-pack test --headless --chrome),
#   4. a short fuzzing run of client frame decoding and gesture validation (cargo fuzz, nightly),
#   5. the browser end-to-end tests (playwright-core + Chromium) against a freshly built site
#      served from its own database (and a second one with 500 products for the well at scale), then a scan of that database, its Redis keys and the server
#      log for card-number-like strings (every Rust test's database is scanned the same way).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
cd "$REPO_ROOT"

prepare_machine --with-browser
started=$(date +%s)

# A private localstripe for this run, on a free port, stopped at the end: fresh state
# (--from-scratch), because localstripe slows down as objects pile up (it pickles its whole store
# to /tmp/localstripe.pickle after every change, a path it hard-codes and shares between instances).
mkdir -p "$REPO_ROOT/target"
stripe_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SWIFTCART_HOME/localstripe-venv/bin/localstripe" --port "$stripe_port" --from-scratch >"$REPO_ROOT/target/test-localstripe.log" 2>&1 &
stripe_pid=$!
trap 'kill "$stripe_pid" 2>/dev/null' EXIT
for _ in $(seq 1 40); do curl -s -o /dev/null "http://127.0.0.1:$stripe_port/v1/customers" && break; sleep 0.25; done
export TEST_STRIPE_API_BASE="http://127.0.0.1:$stripe_port"

say "checking formatting and lints"
cargo fmt --all -- --check
# frontend-wasm is the hydrate build; compiling it natively would unify `hydrate` into the server.
cargo clippy -q --workspace --exclude frontend-wasm --all-targets -- -D warnings

say "Rust tests (native)"
cargo test -q --workspace --exclude frontend-wasm

say "wasm tests in headless Chromium"
wasm-pack test --headless --chrome --mode no-install physics-worker --features worker

say "fuzzing client frames for ${FUZZ_SECONDS:-20} s (cargo fuzz; longer runs: see README)"
fuzz_corpus=$(mktemp -d)
cp fuzz/corpus/client_frame/* "$fuzz_corpus"/
(cd fuzz && cargo +nightly fuzz run -s none client_frame "$fuzz_corpus" -- \
  -max_total_time="${FUZZ_SECONDS:-20}" -max_len=4096 2>&1 | tail -n 3)
rm -rf "$fuzz_corpus"

say "building the site for the end-to-end tests"
build_worker dev
cargo leptos build --split
# cargo-leptos copies public/ when it starts; make sure the worker bundle built just before is there.
mkdir -p target/site/worker && cp public/worker/* target/site/worker/

e2e_db="swiftcart_e2e_$$"
e2e_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=
session_pid=
scale_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$session_pid" ] && kill "$session_pid" 2>/dev/null && wait "$session_pid" 2>/dev/null
  [ -n "$scale_pid" ] && kill "$scale_pid" 2>/dev/null && wait "$scale_pid" 2>/dev/null
  kill "$stripe_pid" 2>/dev/null
  for db in "$e2e_db" "${e2e_db}_scale"; do
    redis-cli -h 127.0.0.1 --scan --pattern "$db:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
ensure_database "$e2e_db"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$e2e_db" SWIFTCART_REDIS_PREFIX="$e2e_db:"
export LEPTOS_SITE_ADDR="127.0.0.1:$e2e_port" LEPTOS_SITE_ROOT=target/site STRIPE_API_BASE="$TEST_STRIPE_API_BASE"
target/debug/server seed
export E2E_ADMIN_EMAIL="admin-$$@e2e.swiftcart.test" E2E_ADMIN_PASSWORD="admin-pass-$$-$RANDOM"
SWIFTCART_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" target/debug/server create-admin --email "$E2E_ADMIN_EMAIL" >/dev/null
target/debug/server serve >"target/e2e-server.log" 2>&1 &
server_pid=$!
wait_healthy() {
  for _ in $(seq 1 60); do curl -sf "http://$1/healthz" >/dev/null && break; sleep 0.5; done
  curl -sf "http://$1/healthz" >/dev/null || { cat target/e2e-server.log target/e2e-session-server.log 2>/dev/null; exit 1; }
}
wait_healthy "$LEPTOS_SITE_ADDR"

say "browser end-to-end tests against http://$LEPTOS_SITE_ADDR"
BASE_URL="http://$LEPTOS_SITE_ADDR" node --test --test-concurrency=1 $(ls e2e/*.test.mjs | grep -v sessions)

# A second node of the same deployment whose access tokens live 12 s, for the session tests:
# pages on it must renew several times a minute. It runs only for them, so it takes no CPU from
# the timing-sensitive tests above.
say "browser session tests against a second node with 12-second access tokens"
session_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LEPTOS_SITE_ADDR="127.0.0.1:$session_port" SWIFTCART_ACCESS_TOKEN_TTL_SECS=12 \
  target/debug/server serve >"target/e2e-session-server.log" 2>&1 &
session_pid=$!
wait_healthy "127.0.0.1:$session_port"
SESSION_BASE_URL="http://127.0.0.1:$session_port" node --test e2e/sessions.test.mjs

kill "$session_pid" 2>/dev/null && wait "$session_pid" 2>/dev/null; session_pid=

# The painted well at scale: a server of its own with 500 products (its own database and Redis
# prefix), for the search-and-beam test on a wide screen and a phone.
say "browser tests of the well at 500 products"
scale_db="${e2e_db}_scale"
ensure_database "$scale_db"
scale_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$scale_db" target/debug/server seed --fill-to 500 >/dev/null
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$scale_db" SWIFTCART_REDIS_PREFIX="$scale_db:" \
  LEPTOS_SITE_ADDR="127.0.0.1:$scale_port" target/debug/server serve >"target/e2e-scale-server.log" 2>&1 &
scale_pid=$!
wait_healthy "127.0.0.1:$scale_port"
SCALE_BASE_URL="http://127.0.0.1:$scale_port" node --test e2e/well-at-scale.test.mjs
kill "$scale_pid" 2>/dev/null && wait "$scale_pid" 2>/dev/null; scale_pid=

say "scanning the end-to-end database, its Redis keys and the server log for card numbers"
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=
target/debug/server scan-pii --log target/e2e-server.log --log target/e2e-session-server.log \
  --log target/e2e-scale-server.log

say "all tests passed in $(( $(date +%s) - started )) s (after preparation)"
