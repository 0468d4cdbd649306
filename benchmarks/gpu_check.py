"""The GPU check: one call measures what the performance goals are about, and writes one Markdown report.

    bash scripts/gpu_check.sh                                # on the GPU machine: at most ~8 minutes
    python benchmarks/gpu_check.py --device cpu --tiny --out /tmp/check   # CPU dry run (tests/test_bench.py)

With random-weight models built from the real configurations of openai/clip-vit-base-patch16 and
google/siglip-base-patch16-224 (benchmarks/configs/; nothing is downloaded):
1. model steps at batch 32 and 128, bf16 autocast, eager (images/s, MFU against 989 TFLOP/s, peak memory);
2. a whole run of the real training job (`train.main`, its defaults: 6 epochs, evaluation every epoch) on 12,600
   generated HAR-sized JPEGs, for CLIP then SigLIP (seconds per epoch, wall time including the scan, evaluation of
   the 1,890 test images, peak GPU and host memory); SigLIP's run finds the pixel store CLIP's run built;
3. the stock recipe (image processor per image, `set_transform`-like, Trainer defaults) for one epoch of CLIP on
   the same split;
4. the data-path table (bench.py) with 8 and 16 loader workers;
5. the model steps again with torch.compile.
Each phase runs in a child process with a time limit, in this order, within `--budget` seconds in all; a phase
that runs out of time is reported as such and the next one starts. The report ($OUT/gpu_check.md) is rewritten
after every phase, so a cut-short check still leaves its figures.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/gpu_check.py`: the repo root

import torch

from benchmarks.common import device_name, har_sized_jpegs, random_checkpoint, stamp, versions
from benchmarks.timed_train import timed_run
from har_finetune import HAR_CLASSES

HERE = Path(__file__).resolve().parent
NAMES = {"clip": "CLIP ViT-B/16", "siglip": "SigLIP B/16"}
RUN_HEADER = [
    "| model | recipe | epochs | wall s (all) | scan s | cache build s | s per epoch | evaluations s "
    "| test images | test predictions s | peak GPU GB | peak RSS GB | test accuracy |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


class Report:
    """The Markdown report, rewritten whole after each phase (partial results survive a cut-short check)."""

    def __init__(self, path: Path, title: str):
        self.path, self.sections = path, [title]

    def add(self, *lines: str) -> int:
        """Append a section; its index, to `extend` it later."""
        self.sections.append("")
        self.extend(len(self.sections) - 1, *lines)
        return len(self.sections) - 1

    def extend(self, index: int, *lines: str) -> None:
        self.sections[index] = "\n".join(filter(None, [self.sections[index], *lines]))
        print(*lines, sep="\n", flush=True)
        self.path.write_text("\n\n".join(self.sections) + "\n")


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        return max(0.0, min(cap, self.end - time.monotonic()))


def python_phase(args: list[str], log: Path, timeout: float) -> tuple[str, str | None]:
    """Run `python ARGS` in a child (output to `log`); (its stdout, None) or (what it printed, why it stopped)."""
    if timeout < 5:
        return "", "skipped: the time budget is spent"
    try:
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=HERE.parent, check=False
        )
    except subprocess.TimeoutExpired as stopped:
        out = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else stopped.stdout or ""
        log.write_text(out + (stopped.stderr.decode() if isinstance(stopped.stderr, bytes) else stopped.stderr or ""))
        return out, f"stopped at its time limit ({timeout:.0f} s)"
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        return done.stdout, f"failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]} (log {log})"
    return done.stdout, None


def tables_of(out: str) -> list[str]:
    """The bench's printed tables (title line, header, rows, notes), without its [section: N s] lines."""
    return [line for line in out.splitlines() if line.strip() and not line.startswith("[")]


def bench_models(args, budget: Budget, report: Report, compiled: bool, cap: float) -> None:
    cuda = args.device.startswith("cuda")
    flags = ["--only", "models", "--device", args.device, "--batch_size", *map(str, args.batch_sizes)]
    flags += ["--steps", "20" if cuda else "1", "--warmup", "5" if cuda else "0", "--eval_batch_size", "256"]
    flags += ["--peak_tflops", "989"] * cuda + ["--tiny_models"] * args.tiny + ["--compile"] * compiled
    out, problem = python_phase(
        [str(HERE / "bench.py"), *flags], args.work / f"models{compiled:d}.log", budget.left(cap)
    )
    title = f"### Model steps ({'torch.compile' if compiled else 'eager'})"
    report.add(title, *tables_of(out), *([f"({problem})"] if problem else []))


def our_run(args, budget: Budget, family: str, checkpoint: Path, cap: float) -> str:
    argv = ["--dataset", str(args.work / "har"), "--model_name_or_path", str(checkpoint)]
    argv += ["--output_dir", str(args.work / "runs" / family), "--pixel_cache_dir", str(args.work / "cache")]
    argv += ["--num_train_epochs", str(args.run_epochs), "--disable_tqdm", "True", "--report_to", "none"]
    if args.tiny:
        argv += ["--per_device_train_batch_size", "8", "--dataloader_num_workers", "1"]
    limit = budget.left(cap)
    if limit < 5:
        return f"| {NAMES[family]} | ours | skipped: the time budget is spent |"
    try:
        timing = timed_run(family, argv, args.work, f"run_{family}", limit)
    except subprocess.TimeoutExpired:
        return f"| {NAMES[family]} | ours | stopped at its time limit ({limit:.0f} s) |"
    except subprocess.CalledProcessError as failed:
        return f"| {NAMES[family]} | ours | failed (exit {failed.returncode}; log run_{family}.log) |"
    results = json.loads((args.work / "runs" / family / "all_results.json").read_text())
    seconds = timing["seconds"]
    cells = [NAMES[family], "ours: `train.main`, defaults", f"{results['epochs']:g}", f"{timing['wall']:.1f}"]
    cells += [f"{seconds['scan']:.1f}", f"{seconds['cache build']:.1f}", f"{results['seconds_per_epoch']:.1f}"]
    cells += [f"{seconds['evaluations']:.1f}", f"{results['num_test_samples']:,}"]
    cells += [f"{seconds['test predictions']:.2f}", f"{timing['peak_gpu_gb']:.1f}" if "peak_gpu_gb" in timing else "-"]
    cells += [f"{timing['peak_rss_gb']:.1f}", f"{results['test_accuracy']:.3f}"]
    return "| " + " | ".join(cells) + " |"


def stock_run(args, budget: Budget, checkpoint: Path, cap: float) -> str:
    split = args.work / "runs" / "clip" / "split.csv"
    if not split.is_file():
        return "| CLIP ViT-B/16 | stock | skipped: needs our CLIP run's split.csv |"
    flags = ["--stock", str(args.work / "har"), str(checkpoint), str(split), str(args.work / "runs" / "stock")]
    out, problem = python_phase([str(HERE / "bench_run.py"), *flags], args.work / "stock.log", budget.left(cap))
    if problem:
        return f"| CLIP ViT-B/16 | stock, 1 epoch | {problem} |"
    stock = json.loads(out.strip().splitlines()[-1])
    cells = ["CLIP ViT-B/16", "stock: processor per image, Trainer defaults", "1", f"{stock['wall']:.1f}", "-", "-"]
    gpu = f"{stock['peak_gpu_gb']:.1f}" if args.device != "cpu" else "-"
    cells += [f"{stock['train_runtime']:.1f}", "-", "-", "-", gpu, "-", "-"]
    return "| " + " | ".join(cells) + " |"


def bench_data(args, budget: Budget, report: Report, workers: int, cap: float) -> None:
    flags = ["--only", "data", "--device", args.device, "--workers", str(workers)]
    flags += ["--images", str(args.data_images), "--epochs", str(args.data_epochs)]
    out, problem = python_phase([str(HERE / "bench.py"), *flags], args.work / f"data{workers}.log", budget.left(cap))
    report.add(f"### Data path, {workers} loader workers", *tables_of(out), *([f"({problem})"] if problem else []))


def prepare(args) -> dict[str, Path]:
    """HAR-sized JPEGs (a folder per class, 12,600 like HAR) and a random checkpoint per family, in a clean scratch
    folder (a finished run left there by an earlier check would not be trained again)."""
    for leftover in ("har", "checkpoints", "runs", "cache", "data_path"):
        shutil.rmtree(args.work / leftover, ignore_errors=True)
    for leftover in [*args.work.glob("*.log"), *args.work.glob("*.timings.json")]:
        leftover.unlink()
    start = time.perf_counter()
    per_class = args.images // len(HAR_CLASSES)
    processes = len(os.sched_getaffinity(0))
    har_sized_jpegs(args.work / "har" / "train", per_class * len(HAR_CLASSES), 1, HAR_CLASSES, processes)
    images = time.perf_counter() - start
    checkpoints = {f: random_checkpoint(f, args.work / "checkpoints" / f, args.tiny) for f in NAMES}
    print(
        f"[prepared {per_class * 15:,} images in {images:.0f} s, checkpoints in "
        f"{time.perf_counter() - start - images:.0f} s]",
        flush=True,
    )
    return checkpoints


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "outputs/gpu_check")))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "har_gpu_check", help="scratch")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a dry run")
    parser.add_argument("--tiny", action="store_true", help="dry run: 16-wide models, 150 images, 1 epoch")
    parser.add_argument(  # + ~40 s of preparation and start-up: ~7 minutes on the GPU machine
        "--budget", type=float, default=360, help="seconds for all phases (preparation excluded)"
    )
    args = parser.parse_args(argv)
    sizes = dict(images=150, run_epochs=1, data_images=48, data_epochs=2, workers=[1], batch_sizes=[2])
    if not args.tiny:
        sizes = dict(
            images=12600, run_epochs=6, data_images=2048, data_epochs=3, workers=[8, 16], batch_sizes=[32, 128]
        )
    vars(args).update(sizes)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)  # CUDA is not initialised here: the image generation forks
    report = Report(args.out / "gpu_check.md", f"## GPU check{' (CPU dry run, tiny models)' * args.tiny}")
    try:
        checkpoints = prepare(args)
        run_phases(args, device, report, checkpoints)
    finally:  # the children's logs come back with the report (a failed phase names its log)
        with tarfile.open(args.out / "gpu_check_logs.tar.gz", "w:gz") as logs:
            for log in sorted(args.work.glob("*.log")) + sorted(args.work.glob("*.timings.json")):
                logs.add(log, arcname=log.name)
    print(f"[report: {report.path}]", flush=True)
    return 0


def run_phases(args, device: torch.device, report: Report, checkpoints: dict[str, Path]) -> None:
    budget = Budget(args.budget)
    report.add(f"{device_name(device)}, {stamp()}", versions())
    bench_models(args, budget, report, compiled=False, cap=90)
    title = f"### Whole runs: {args.images:,} HAR-sized JPEGs, 15 classes, the real training job"
    runs = report.add(title, *RUN_HEADER)
    for family in NAMES:
        report.extend(runs, our_run(args, budget, family, checkpoints[family], cap=150))
    report.extend(
        runs,
        stock_run(args, budget, checkpoints["clip"], cap=150),
        "(ours: defaults (batch 32, bf16, evaluation and a checkpoint every epoch, best model kept); wall = process "
        "start to exit, scan and start-up included; s per epoch = train_runtime / epochs, evaluations included; "
        "stock: one epoch, its per-epoch evaluation included, no test pass)",
    )
    for workers in args.workers:
        bench_data(args, budget, report, workers, cap=60)
    if device.type == "cuda":
        bench_models(args, budget, report, compiled=True, cap=300)


if __name__ == "__main__":
    raise SystemExit(main())
