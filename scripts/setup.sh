#!/usr/bin/env bash
# Creates .venv and installs everything the project needs (idempotent; safe to re-run).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/pip install -q --no-deps -e .
