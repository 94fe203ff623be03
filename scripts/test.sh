#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the whole test suite (lint, Python tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check nbsaliency tests benchmarks
echo "== pytest"
.venv/bin/python -m pytest -q
