#!/usr/bin/env bash
# Prepares a machine for SwiftCart: system packages, services, build tools, npm packages and the
# database. Every step checks first and skips what is already there, so running it again is
# cheap. Sourced by scripts/run.sh and scripts/test.sh.
#
#   prepare_machine [--with-browser]
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Tools that live outside the repo (the localstripe virtualenv, logs of background services).
SWIFTCART_HOME=${SWIFTCART_HOME:-$HOME/.local/share/swiftcart}
LOCALSTRIPE_VERSION=1.15.10
PG_HOST=127.0.0.1
PG_PORT=5432

# shellcheck source=scripts/tools.sh
source "$REPO_ROOT/scripts/tools.sh"

apt_updated=0
# Installs the Debian packages given that are not installed yet.
ensure_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing Debian packages: ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_build_packages() {
  ensure_apt curl ca-certificates build-essential pkg-config libssl-dev python3 python3-venv
  command -v node >/dev/null && command -v npm >/dev/null || ensure_apt nodejs npm
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

ensure_postgres() {
  if pg_up; then
    say "PostgreSQL is running on $PG_HOST:$PG_PORT"
  else
    command -v pg_ctlcluster >/dev/null || ensure_apt postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
    pg_up || { echo "PostgreSQL did not start; see /var/log/postgresql/" >&2; exit 1; }
  fi
  # A fresh Debian install asks for passwords on TCP; SwiftCart's local default connects as
  # postgres without one, so allow loopback connections (development machines only).
  if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
    local hba
    hba=$(su postgres -c "psql -Atqc 'SHOW hba_file'")
    say "allowing passwordless loopback connections in $hba"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    su postgres -c "psql -qc 'SELECT pg_reload_conf()'" >/dev/null
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

ensure_redis() {
  if redis_up; then
    say "Redis is running on 127.0.0.1:6379"
    return
  fi
  command -v redis-server >/dev/null || ensure_apt redis-server
  say "starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/swiftcart.log
  for _ in $(seq 1 20); do redis_up && break; sleep 0.25; done
  redis_up || { echo "Redis did not start; see /var/log/redis/swiftcart.log" >&2; exit 1; }
}

ensure_localstripe() {
  local venv="$SWIFTCART_HOME/localstripe-venv"
  if [ ! -x "$venv/bin/localstripe" ]; then
    say "installing localstripe $LOCALSTRIPE_VERSION into $venv"
    mkdir -p "$SWIFTCART_HOME"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "localstripe==$LOCALSTRIPE_VERSION"
  fi
  if curl -s -o /dev/null http://127.0.0.1:8420/v1/customers; then
    say "localstripe is running on 127.0.0.1:8420"
  else
    say "starting localstripe on 127.0.0.1:8420 (log: $SWIFTCART_HOME/localstripe.log)"
    nohup "$venv/bin/localstripe" --port 8420 >"$SWIFTCART_HOME/localstripe.log" 2>&1 &
    for _ in $(seq 1 40); do curl -s -o /dev/null http://127.0.0.1:8420/v1/customers && break; sleep 0.25; done
  fi
}

ensure_npm_packages() {
  if [ -x "$REPO_ROOT/node_modules/.bin/tailwindcss" ] && [ "$REPO_ROOT/node_modules/.package-lock.json" -nt "$REPO_ROOT/package-lock.json" ]; then
    say "npm packages present"
  else
    say "installing npm packages (Tailwind CSS, binaryen, playwright-core)"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_browser() {
  ensure_apt chromium chromium-driver
  say "Chromium: $(chromium --version 2>/dev/null | head -n 1)"
}

# Creates a database if it does not exist yet.
ensure_database() {
  local name=$1
  if psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    say "database $name exists"
  else
    say "creating database $name"
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$name\""
  fi
}

# Builds the physics Web Worker bundle into public/worker (cargo-leptos copies public/ into the
# site). $1 is the cargo profile: dev or wasm-release.
build_worker() {
  local profile=${1:-dev} dir
  dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
  say "building the physics worker bundle ($profile)"
  (cd "$REPO_ROOT" && cargo build -q -p physics-worker --bin worker --features worker \
    --target wasm32-unknown-unknown --profile "$profile")
  local out="$REPO_ROOT/public/worker"
  rm -rf "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name worker \
    "$REPO_ROOT/target/wasm32-unknown-unknown/$dir/worker.wasm"
  if [ "$profile" != dev ]; then
    "$REPO_ROOT/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-reference-types --enable-mutable-globals \
      -o "$out/worker_bg.wasm" "$out/worker_bg.wasm"
  fi
  # Content hashes in the names (as cargo-leptos gives the site's bundles), so browsers may keep
  # them for good: worker_bg.<hash>.wasm, named inside worker.js, then worker.<hash>.js. The
  # server finds the names in the site's worker/ directory when it starts.
  local wasm_hash js_hash
  wasm_hash=$(content_hash "$out/worker_bg.wasm")
  mv "$out/worker_bg.wasm" "$out/worker_bg.$wasm_hash.wasm"
  sed -i "s/worker_bg\.wasm/worker_bg.$wasm_hash.wasm/g" "$out/worker.js"
  js_hash=$(content_hash "$out/worker.js")
  mv "$out/worker.js" "$out/worker.$js_hash.js"
}

# A file's content hash as cargo-leptos writes them: MD5, URL-safe base64 without padding.
content_hash() {
  python3 -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.md5(open(sys.argv[1], "rb").read()).digest()).decode().rstrip("="))' "$1"
}

prepare_machine() {
  ensure_build_packages
  ensure_postgres
  ensure_redis
  ensure_localstripe
  ensure_rust_tools
  ensure_npm_packages
  if [ "${1:-}" = "--with-browser" ]; then
    ensure_browser
  fi
}
