#!/usr/bin/env bash
# Brings up the platform's main job on this machine: a local cluster of 3 masters and
# 2 spider-slaves with a demo Scrapy project, and prints its URLs. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_all
say "building (release)"
cargo build --release --workspace --bins
exec "$CARGO_TARGET_DIR/release/spider-master" up --dir "${SPIDER_DEV_DIR:-./.spider-dev}" --python "$SPIDER_PYTHON" "$@"
