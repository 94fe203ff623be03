#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine (idempotent; safe to re-run):
# a .venv with the pinned Python packages, the view's npm packages and bundle, and Debian's Chromium
# for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/pip install -q -r requirements-dev.txt

# The view: npm packages from the lock file, then the bundle into nbsaliency/static/.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

# The package itself, editable. Its build hook (hatch-jupyter-builder) ignores `skip-if-exists` for editable
# installs, so it runs `npm install` and `npm run build` once more; both are quick with node_modules in place.
.venv/bin/pip install -q --no-deps -e .

# Chromium for the end-to-end tests (Playwright drives Debian's build; it cannot download its own here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is not installed and this is not root; browser tests will be skipped" >&2
  fi
fi
