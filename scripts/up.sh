#!/usr/bin/env bash
# Brings up the platform on this machine: 3 masters (one Raft cluster), 2 spider-slaves, a demo
# site and the demo Scrapy project deployed through the masters, then prints the URLs and token.
# Ctrl-C stops everything. The work is done by `spider-up` (crate devcluster/), which runs the real
# spider-master and spider-slave binaries built next to it; arguments are passed on, e.g.
# `./scripts/up.sh --dir /tmp/dev --fresh` (see `spider-up --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_all
say "building (release)"
cargo build --release -p devcluster -p master -p slave --bins
exec "$CARGO_TARGET_DIR/release/spider-up" "$@"
