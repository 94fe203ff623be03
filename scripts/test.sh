#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the whole test suite:
# lint (ruff), import contracts (import-linter), type check of the view (tsc), JS unit tests (vitest),
# Python tests incl. the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check nbsaliency tests benchmarks example_notebooks
echo "== import contracts (import-linter, see pyproject.toml)"
PYTHONPATH="$PWD" .venv/bin/lint-imports --no-cache
echo "== tsc"
npm run --silent typecheck
echo "== vitest"
npx vitest run --reporter=dot
echo "== pytest"
.venv/bin/python -m pytest -q
