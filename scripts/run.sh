#!/usr/bin/env bash
# Runs SwiftCart at http://127.0.0.1:3000: prepares the machine (see scripts/prepare.sh), builds
# the worker and the site in release mode, creates, migrates and seeds the database, and serves.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
cd "$REPO_ROOT"

prepare_machine
build_worker wasm-release
say "building the site and the server (release; the first build takes several minutes)"
cargo leptos build --release --split --precompress
ensure_database swiftcart
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/swiftcart}
say "migrating and seeding the catalog"
target/release/server seed
say "serving at http://${LEPTOS_SITE_ADDR:-127.0.0.1:3000} (Ctrl-C stops)"
exec target/release/server serve
