#!/usr/bin/env bash
# Installs everything the platform and its tests need on a fresh Debian machine that has only
# Rust, Python 3 and root/sudo. Idempotent: each step checks before it installs.
# Sourced by scripts/up.sh and scripts/test.sh; prints what it does, one line per step.
set -euo pipefail

SPIDER_CACHE="${SPIDER_CACHE:-$HOME/.cache/spider-platform}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SPIDER_CACHE/target}"
export SPIDER_VENV="${SPIDER_VENV:-$SPIDER_CACHE/venv}"
export SPIDER_PYTHON="$SPIDER_VENV/bin/python"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: clang/libclang for RocksDB's bindgen, python venv support, HAProxy,
# iptables/iproute2 for the fault-injection suite, Chromium for dashboard tests.
DEBIAN_PACKAGES=(clang libclang-dev python3-venv iproute2 iptables haproxy chromium procps)

ensure_debian_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Python packages for the slaves (Scrapy) and for tests and benchmarks that drive real clients
# and compare against the real Scrapyd.
PYTHON_PACKAGES=(scrapy setuptools wheel scrapyd==1.6.0 scrapyd-client python-scrapyd-api aiosmtpd)

ensure_venv() {
  if [ ! -x "$SPIDER_PYTHON" ] || ! "$SPIDER_PYTHON" -c 'import sys' 2>/dev/null; then
    say "creating Python venv at $SPIDER_VENV"
    rm -rf "$SPIDER_VENV"
    mkdir -p "$(dirname "$SPIDER_VENV")"
    # A pyenv/python.org interpreter has venv built in; Debian's needs python3-venv (installed above).
    python3 -m venv "$SPIDER_VENV"
  fi
  local stamp="$SPIDER_VENV/.spider-packages"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${PYTHON_PACKAGES[*]}" ]; then
    say "installing Python packages: ${PYTHON_PACKAGES[*]}"
    "$SPIDER_PYTHON" -m pip install -q --upgrade pip >/dev/null
    "$SPIDER_PYTHON" -m pip install -q "${PYTHON_PACKAGES[@]}"
    echo "${PYTHON_PACKAGES[*]}" > "$stamp"
  fi
}

ensure_all() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
  command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
  mkdir -p "$CARGO_TARGET_DIR"
  ensure_debian_packages
  ensure_venv
  say "ready: CARGO_TARGET_DIR=$CARGO_TARGET_DIR SPIDER_PYTHON=$SPIDER_PYTHON"
}
