"""Plot training curves, confusion matrix and per-class F1 of runs; compare runs in REPORT.md.

    python plot_metrics.py outputs/clip                                   # -> outputs/clip/plots/*.png
    python plot_metrics.py outputs/clip outputs/siglip --out outputs/compare   # + overlays and REPORT.md

A folder of runs (a seed or sweep campaign: outputs/clip/seed-1, seed-2, ...) stands for every run under it;
REPORT.md then groups the seeds and compares runs on the same test images with intervals and paired tests.
Reads only the run folders (docs/run_folder.md); works on a run still in progress (plots what exists, notes the rest).
Exit code 2 when a run folder file is empty or unreadable, or a folder is not a run (the message names it).
"""

import argparse
import sys
from pathlib import Path

from har_finetune.core.cli import run_cli
from har_finetune.reporting.loading import expand_run_dirs
from har_finetune.reporting.report import plot_and_report

DEFAULT_OUT = Path("outputs/compare")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders written by training, or folders of runs"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for overlay figures and REPORT.md (default {DEFAULT_OUT} given several runs, or a folder "
        "holding several; with one run, only when set)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    several = len(expand_run_dirs(args.run_dirs)) > 1  # two paths, or one folder of runs (a campaign's model)
    out = args.out if args.out is not None or not several else DEFAULT_OUT
    return plot_and_report(args.run_dirs, out)


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)
