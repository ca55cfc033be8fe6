#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): the gpu profile's models at real size with random
# weights on one NVIDIA GPU, no network, under 8 minutes. Writes gpu-check-<time>.jsonl and .md
# in the current directory (or OUT=prefix) and prints the Markdown table.
#
#   bash benchmarks/gpu_check.sh                 # everything
#   bash benchmarks/gpu_check.sh --only caption  # some of it; --dry-run lists what would run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
out="${OUT:-gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
# The Python side stops starting workloads after 420 s; the hard limit is 8 minutes.
exec timeout --kill-after=10 480 "$python" -m benchmarks.gpu_check --out "$out" "$@"
