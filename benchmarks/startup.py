"""Start-up: how long a mistyped flag and `--help` take, against importing torch + transformers in the same run.

    OMP_NUM_THREADS=1 python benchmarks/startup.py              # 5 rounds, medians; ~1 min on 2 idle cores
    OMP_NUM_THREADS=1 python benchmarks/startup.py --rounds 1   # one round (tests/test_bench.py)

Each command is a fresh `python` process (wall time from spawn to exit, the output thrown away); the rounds
interleave the three commands, so a busy machine slows all three alike. The target (issue 19): a flag error and
`--help` within the baseline, i.e. a ratio near 1. The figures measured here are in docs/performance.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "baseline: import torch + transformers (TrainingArguments)": [
        "-c",
        "import torch; from transformers import TrainingArguments",
    ],
    "flag error: fine_tune_har_clip.py --epochs 3": ["fine_tune_har_clip.py", "--epochs", "3"],
    "--help: fine_tune_har_clip.py --help": ["fine_tune_har_clip.py", "--help"],
}  # fmt: skip


def wall_time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], prog="python benchmarks/startup.py")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three commands (medians reported)")
    args = parser.parse_args(argv)
    times = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command))
    baseline = statistics.median(times[next(iter(COMMANDS))])
    print(f"| command | median s ({args.rounds} rounds) | ratio to the baseline |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {statistics.median(values) / baseline:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
