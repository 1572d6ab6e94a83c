"""Time ``mri_sr.evaluate.evaluate`` on 100 MRI test slices with SRResNet x4, on the CPU.

The MNI152 template (1 mm, 196x232 axial slices, LR 49x58) is prepared at x4 with the default
config; its test split (~23 slices) is cycled to 100 slices by a manifest that repeats the test
rows under distinct subject ids. The generator is SRResNet at its default size (num_feat 64,
num_block 16, random weights: speed does not depend on them). Both runs include the foreground-mask
metrics. Prints one JSON object: wall and process CPU seconds per method, and the 1-minute load
average (wall times on a shared machine are only meaningful when it is low).

    python benchmarks/evaluate_speed.py [--slices 100] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from mri_sr.checkpoint import save_checkpoint
from mri_sr.config import validate_config
from mri_sr.data.prepare import prepare
from mri_sr.evaluate import evaluate
from mri_sr.nets import build_network


def cycle_test_split(prepared: Path, out: Path, slices: int) -> None:
    """Copy of ``prepared`` whose test split repeats the test rows to ``slices`` rows."""
    out.mkdir()
    (out / "shards").symlink_to((prepared / "shards").resolve())
    with open(prepared / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields, test = reader.fieldnames, [r for r in reader if r["split"] == "test"]
    rows = [{**test[i % len(test)], "subject": f"{test[i % len(test)]['subject']}-r{i // len(test)}"}
            for i in range(slices)]
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target: 2 cores)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare(validate_config({}), 4, tmp / "x4")
        cycle_test_split(tmp / "x4", tmp / "x4-cycled", args.slices)
        spec = {"type": "srresnet", "in_channels": 1, "num_feat": 64, "num_block": 16, "scale": 4}
        net_g = build_network(spec)
        save_checkpoint({"model": "srresnet", "scale": 4, "in_channels": 1, "net_g_spec": spec,
                         "nets": {"net_g": net_g.state_dict()}}, tmp / "srresnet.pt")
        timings, cpu = {}, {}
        for method in ("bicubic", str(tmp / "srresnet.pt")):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = evaluate(method, str(tmp / "x4-cycled"), 4, str(tmp / "metrics.json"), device=args.device,
                              mask=True)
            timings[result["method"]] = round(time.perf_counter() - start, 2)
            cpu[result["method"]] = round(time.process_time() - start_cpu, 2)
        first = json.loads((tmp / "metrics.json").read_text())

    print(json.dumps({
        "benchmark": "evaluate_speed", "slices": len(first["images"]), "threads": args.threads,
        "device": args.device, "lr_shape": [49, 58], "hr_shape": [196, 232],
        "generator": {**spec, "parameters": sum(p.numel() for p in net_g.parameters())},
        "seconds": timings, "cpu_seconds": cpu,
        "srresnet_seconds_per_slice": round(timings["srresnet"] / args.slices, 4),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
    }, indent=2))


if __name__ == "__main__":
    main()
