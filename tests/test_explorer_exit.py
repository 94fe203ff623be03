"""A script that makes an Explorer and ends exits cleanly every time: the panels' workers (patch index, grids,
optimization) are stopped and joined at interpreter exit, before torch is torn down under them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import torch
from nbsaliency import demo
from nbsaliency.explorer.widget import Explorer

model = demo.load_model()
images = demo.images(4, seed=0).images
explorer = Explorer(model, images, dataset=demo.images(400, seed=1).images)  # the index is still building at exit
explorer._on_message(explorer, {"kind": "optimize", "id": 1, "visualisation": "deepdream", "steps": 2000,
                                "selection": {}}, [])
assert explorer._panels["optimization"].jobs.running
print("made", flush=True)
"""


def test_a_script_with_a_live_explorer_exits_cleanly_every_time():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    for run in range(3):
        result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, f"run {run}: exit {result.returncode}\n{result.stderr[-2000:]}"
        assert result.stdout.strip() == "made" and "terminate called" not in result.stderr
