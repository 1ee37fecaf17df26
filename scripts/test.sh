#!/usr/bin/env bash
# Runs every test of spider-platform, real components included: formatting and lints, then
# every crate's unit, property and end-to-end tests in one release build.
# Needs root (the fault-injection suite creates network namespaces): re-runs itself with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
source scripts/setup.sh
ensure_all

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (release profile, warnings are errors)"
cargo clippy --release --workspace --all-targets -- -D warnings
say "cargo test (release profile)"
cargo test --release --workspace
