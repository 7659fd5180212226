#!/usr/bin/env bash
# Installs what building and testing meshd needs beyond the Rust toolchain:
# clang and libclang for RocksDB's bindgen, make for jemalloc (mesh-sim's
# allocator), and what the tests run (Node.js, Chromium and ChromeDriver).
# Safe to run repeatedly; does nothing when everything is present.
# Debian/Ubuntu (apt-get), run as root or with sudo.
set -euo pipefail

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
if ! ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
command -v make >/dev/null 2>&1 || need+=(make)
# The tests: kill (signals), mount (a small tmpfs for the full-disk test).
command -v kill >/dev/null 2>&1 || need+=(procps)
command -v mount >/dev/null 2>&1 || need+=(mount)
# The ODCS export test reads exports back with PyYAML (a YAML 1.1 reader).
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
# The js-libp2p interop test runs a Node.js peer (Node 20 or later).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The web UI's browser tests drive Debian's Chromium through ChromeDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
# The test runner (scripts/test).
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest" >&2
  cargo install cargo-nextest --locked --quiet
fi
# The js peer's packages, exactly as locked (tests/js/package-lock.json).
js="$(dirname "$0")/../tests/js"
if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules" ]; then
  echo "setup: installing the js interop peer's packages (npm ci)" >&2
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
