#!/usr/bin/env bash
# Runs every test of spider-platform, real components included: formatting and lints, then
# every crate's unit, property and end-to-end tests in one release build.
# Needs root (the fault-injection suite creates network namespaces): re-runs itself with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "test.sh: needs root (network namespaces); run it as root" >&2; exit 1; }
  exec sudo -E "$0" "$@"
fi
source scripts/setup.sh
ensure_all
# Disk is the resource CI has run out of: say what there is, and what the build took, at the end.
say "disk free where the build goes: $(df -h --output=avail "$CARGO_TARGET_DIR" | tail -1 | tr -d ' ')"

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (release profile, warnings are errors)"
cargo clippy --release --workspace --all-targets -- -D warnings
say "cargo test (release profile)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one "test result" per test binary).
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
say "target dir now holds $(du -sh "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1); disk free: $(df -h --output=avail "$CARGO_TARGET_DIR" | tail -1 | tr -d ' ')"
exit "$status"
