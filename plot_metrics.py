"""Plot training curves, confusion matrix and per-class F1 of runs; compare runs in REPORT.md.

    python plot_metrics.py outputs/clip                                   # -> outputs/clip/plots/*.png
    python plot_metrics.py outputs/clip outputs/siglip --out outputs/compare   # + overlays and REPORT.md

A folder of runs (a seed or sweep campaign: outputs/clip/seed-1, seed-2, ...) stands for every run under it;
REPORT.md then groups the seeds and compares runs on the same test images with intervals and paired tests.
Reads only the run folders (docs/run_folder.md); works on a run still in progress (plots what exists, notes the rest).
Exit code 2 when a run folder file is empty or unreadable, or a folder is not a run (the message names it).
"""

from har_finetune.core.cli import run_cli
from har_finetune.reporting.plot_command import main

if __name__ == "__main__":
    run_cli(main)
