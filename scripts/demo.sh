#!/usr/bin/env bash
# Sets everything up on a fresh machine, then opens the tour notebook (the demo model) in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter lab example_notebooks/tour.ipynb "$@"
