#!/usr/bin/env bash
# GPU check: every CUDA path of mri-sr once (each configs/gpu.yaml model's training in bf16 with
# and without torch.compile, the MRI feature network, DDP on every visible GPU, upscaling a
# 256-voxel cube, an evaluation). Prints one JSON object per step (iterations/s, share of time
# waiting for data, peak memory, achieved TFLOP/s against the dense bf16 peak); see
# benchmarks/gpu_check.py for the fields.
#   benchmarks/gpu_check.sh              # on a GPU machine
#   benchmarks/gpu_check.sh --small      # tiny sizes on any machine: a check that it runs to its end
# Other options (--models, --iterations, --cube, --work) are passed on to gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
if [[ "${GPU_CHECK_SMALL:-0}" == 1 ]]; then
    set -- --small "$@"
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
