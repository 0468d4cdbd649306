"""Scaling benchmark: a run's phases and peak memory as the dataset grows, first run and second run.

    python benchmarks/scaling.py --images 1500 6000      # ~3 minutes on 2 shared cores
    python benchmarks/scaling.py                         # 1,500 / 6,000 / 24,000 / 60,000 images (~15 min + images)

For each N: N generated HAR-sized JPEGs (~250x180 px, 15 class folders), then the real training job twice
(`train.main`, as fine_tune_har_clip.py runs it; a tiny random CLIP at 224 px, `--max_steps 1`, so that the figures
are the data side's: scan, cache, evaluations) into two run folders sharing one pixel cache: the first run builds
the cache, the second finds it. Per run: wall time (process start to exit), start-up (imports), scan, cache build,
evaluations (validation during and after training, test predictions), the process's peak resident set (VmHWM) and
its sampled peaks of heap (RssAnon) and file-backed pages (RssFile: the mapped pixel store and evaluation caches);
the cache's size on disk, and the machine's 1-minute load average when the run ended (other jobs slow every phase).
Prints a Markdown table (docs/performance.md keeps the measured one).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/scaling.py`: the repository root

import torch

from benchmarks.common import device_name, har_sized_jpegs, stamp, tiny_clip_224, versions
from benchmarks.timed_train import timed_run
from har_finetune import HAR_CLASSES

HEADER = [
    "| images | run | wall s | start-up s | scan s | cache build s | evaluations s | peak RSS GB | heap peak GB "
    "| file-backed peak GB (libraries) | cache on disk GB | load |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def folder_gb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9 if folder.exists() else 0.0


def scale_point(count: int, checkpoint: Path, work: Path, extra: list[str], timeout: float) -> list[str]:
    """Two runs on `count` new images; their table rows."""
    data, cache = work / f"n{count}", work / f"cache{count}"
    har_sized_jpegs(data / "train", count, seed=count, classes=HAR_CLASSES, processes=len(os.sched_getaffinity(0)))
    rows = []
    for run in ("first", "second"):
        argv = ["--dataset", str(data), "--model_name_or_path", str(checkpoint), "--output_dir"]
        argv += [str(work / f"run{count}_{run}"), "--max_steps", "1", "--pixel_cache_dir", str(cache)]
        argv += ["--disable_tqdm", "True", "--report_to", "none", *extra]
        result = timed_run("clip", argv, work, f"run{count}_{run}", timeout)
        seconds = result["seconds"]
        cells = [f"{count:,}", run, f"{result['wall']:.1f}"]
        cells += [f"{seconds.get(phase, 0.0):.1f}" for phase in ("start-up", "scan", "cache build", "evaluations")]
        cells += [f"{result['peak_rss_gb']:.2f}", f"{result['heap_gb']:.2f}"]
        cells.append(f"{result['file_gb']:.2f} ({result['libraries_gb']:.2f})")
        cells += [f"{folder_gb(cache):.2f}", f"{os.getloadavg()[0]:.1f}"]  # other jobs' load on the machine
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, nargs="+", default=[1500, 6000, 24000, 60000], help="dataset sizes")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per training run")
    parser.add_argument("train_flags", nargs="*", help="extra training flags, after --")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="har_scaling_") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        checkpoint = tiny_clip_224(work / "tiny-clip-224")
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        print(
            f"scaling: HAR-sized JPEGs in 15 classes, tiny CLIP at 224 px, --max_steps 1, "
            f"{device_name(device)}, {stamp()}; {versions()}",
            *HEADER,
            sep="\n",
            flush=True,
        )
        for count in args.images:
            scale_point(count, checkpoint, work, args.train_flags, args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
