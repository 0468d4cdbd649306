#!/usr/bin/env bash
# The GPU check: one call measures model steps, whole training runs, the stock recipe and the data path on the lent
# GPU machine, and writes one Markdown report ($OUT/gpu_check.md; docs/performance.md says how to run it there).
#
#   bash scripts/gpu_check.sh                                          # GPU machine: under 8 minutes
#   bash scripts/gpu_check.sh --device cpu --tiny --out /tmp/check     # CPU dry run (tests/test_bench.py runs it)
#
# That machine's image has its own Python 3.12 packages (torch 2.11, transformers 5.17, ...), not our pins, and
# no internet: a package we need that it lacks is installed from wheels/ (git-ignored, filled beforehand with
# `pip download`, see docs/performance.md), offline, into /tmp/har_site. `datasets` is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
missing=$("$PYTHON" -c '
import importlib.util
needed = {"yaml": "PyYAML", "filelock": "filelock", "sentencepiece": "sentencepiece", "pandas": "pandas",
          "sklearn": "scikit-learn", "matplotlib": "matplotlib", "PIL": "pillow", "safetensors": "safetensors",
          "accelerate": "accelerate", "transformers": "transformers", "torchvision": "torchvision"}
print(" ".join(package for module, package in needed.items() if importlib.util.find_spec(module) is None))
')
if [ -n "$missing" ]; then
    echo "installing from wheels/ (offline): $missing"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-cache-dir --target /tmp/har_site --find-links wheels/ $missing
    export PYTHONPATH="/tmp/har_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$PYTHON" benchmarks/gpu_check.py "$@"
