"""benchmarks/gpu_check.sh runs to its end at tiny sizes (--small), so that the first GPU run
does not fail on a typo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_small_gpu_check_runs_every_step(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([str(REPO / "benchmarks" / "gpu_check.sh"), "--small", "--work", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    steps = [r["step"] for r in records]
    assert steps[0] == "prepare" and steps[-1] == "summary"
    assert {"features", "train", "ddp", "upscale", "evaluate"} <= set(steps)
    trained = [r for r in records if r["step"] == "train"]
    methods = {"psnr", "gan", "cycle"}
    assert len(trained) == len(methods) == records[-1]["train_runs"]
    for run in trained:
        assert run["iterations_per_s"] > 0 and 0 <= run["data_wait_share"] < 1
        assert run["gflop_per_iteration"] > 0 and run["achieved_tflops"] > 0 and run["peak_memory_mib"] > 0
    ddp = next(r for r in records if r["step"] == "ddp")
    assert ddp["processes"] == 2 and ddp["iterations"] == 3 and ddp["iterations_per_s_after_warmup"] > 0
    upscale = next(r for r in records if r["step"] == "upscale")
    assert upscale["output"] == [128, 128, 32]
    assert next(r for r in records if r["step"] == "evaluate")["images"] > 0
