#!/usr/bin/env bash
# Installs the build tools SwiftCart needs, skipping any that are already present.
# Sourced by scripts/run.sh and scripts/test.sh; safe to run on its own.
# Versions are pinned: wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock.
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1
CARGO_FUZZ_VERSION=0.13.2

say() { printf '\033[1;36m==>\033[0m %s\n' "$*"; }

# Fetches a crate's source from the registry's static host into a scratch dir and prints the path.
fetch_crate_source() {
  local name=$1 version=$2 dir
  dir=$(mktemp -d)
  curl -sSfL "https://static.crates.io/crates/${name}/${name}-${version}.crate" | tar -xz -C "$dir"
  echo "$dir/${name}-${version}"
}

ensure_wasm_target() {
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "wasm32-unknown-unknown target present"
  else
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# cargo-leptos 0.3.11's lockfile needs rustc 1.96 (cargo-util-schemas 0.14.2); pin 0.14.1 instead.
ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    say "cargo-leptos $CARGO_LEPTOS_VERSION present"; return
  fi
  say "building cargo-leptos $CARGO_LEPTOS_VERSION from source (about 15 min on 2 cores, once per machine)"
  local src; src=$(fetch_crate_source cargo-leptos "$CARGO_LEPTOS_VERSION")
  rm -f "$src/rust-toolchain.toml"
  (cd "$src" && cargo update -q -p cargo-util-schemas --precise 0.14.1 && cargo install -q --path . --locked)
}

# wasm-bindgen-cli 0.2.130's lockfile pins webpki-roots 1.0.11, which the registry here lacks.
ensure_wasm_bindgen() {
  if wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    say "wasm-bindgen-cli $WASM_BINDGEN_VERSION present"; return
  fi
  say "building wasm-bindgen-cli $WASM_BINDGEN_VERSION from source (about 5 min)"
  local src; src=$(fetch_crate_source wasm-bindgen-cli "$WASM_BINDGEN_VERSION")
  (cd "$src" && cargo update -q -p webpki-roots --precise 1.0.10 && cargo install -q --path . --locked)
}

ensure_wasm_pack() {
  if command -v wasm-pack >/dev/null; then
    say "wasm-pack present"; return
  fi
  say "installing wasm-pack"
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --locked
}

# cargo fuzz needs a nightly toolchain (libFuzzer instrumentation).
ensure_fuzz_tools() {
  if rustup toolchain list | grep -q '^nightly'; then
    say "nightly toolchain present"
  else
    say "installing a minimal nightly toolchain (for cargo fuzz)"
    rustup toolchain install nightly --profile minimal
  fi
  if cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    say "cargo-fuzz $CARGO_FUZZ_VERSION present"
  else
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 min)"
    cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
}

ensure_rust_tools() {
  ensure_fuzz_tools
  ensure_wasm_target
  ensure_wasm_bindgen
  ensure_wasm_pack
  ensure_cargo_leptos
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  ensure_rust_tools
fi
