#!/usr/bin/env bash
# The GPU check (device machine: one H100/H200, PyTorch + transformers, no internet).
# Prepare here first: scripts/prepare_device_golden.sh (copies ../shared/golden into .golden/,
# which is git-ignored), then run this script through the device tool with carry [".golden"].
# Results go to $OUT (the device tool brings them back) and are copied into bench/results/.
#
# Today (no CUDA backend yet) it runs Hugging Face transformers on the golden cases, the real
# library confirming the reference. The CUDA issue extends it: configure and build with CUDA,
# run the `gpu` ctest label, generate the random 2B checkpoint, run the benchmark and the same
# clip through transformers (bf16, sdpa, greedy, 200 new tokens) in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results/gpu_check_out}"
mkdir -p "$out"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$out/machine.txt"
[ -d .golden ] || { echo "no .golden/ folder: run scripts/prepare_device_golden.sh and carry it" >&2; exit 2; }
PYTHONUNBUFFERED=1 timeout 420 python3 scripts/hf_reference_check.py --golden .golden --out "$out" \
  2>&1 | tee "$out/hf_reference.log"
