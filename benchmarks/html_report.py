"""The HTML report at HAR size: a campaign of 6 runs x 1,900 test images, reported by plot_metrics.py.

    OMP_NUM_THREADS=1 python benchmarks/html_report.py                  # HAR size; ~1 min on 2 idle cores
    OMP_NUM_THREADS=1 python benchmarks/html_report.py --images 60      # a smoke run (tests/test_bench.py)

Builds, outside the timing, 1,900 generated JPEGs of HAR's sizes (about 260 x 180 px, some larger) and 6 run
folders on them (2 models x 3 seeds, ~85% accuracy, with test_probabilities.csv), then times
`python plot_metrics.py <campaign> --out <report>` in a fresh process: per-run plots, comparison figures, REPORT.md
and the HTML report (index.html, a page per confusion cell, a page per class, thumbnails, cleanlab). Prints its wall
time and CPU time (user + sys: what an idle machine would need at most, since only the thumbnails use 2 threads;
on a shared machine the wall time grows with the load), the HTML step alone (in this process, imports excluded),
and the report folder's size and file count. The targets (issue 28): under 1 minute on 2 cores, under 40 MB.
The figures measured here are in docs/performance.md.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from har_finetune.core.defaults import HAR_CLASSES  # noqa: E402
from har_finetune.core.metrics import per_class_report, predictions_table, probabilities_table  # noqa: E402

SIZES = [(260, 180), (275, 183), (300, 200), (180, 260), (640, 427)]  # HAR's photos are mostly around 260 x 180


def make_images(root: Path, ids: list[str]) -> None:
    rng = np.random.default_rng(0)
    for k, image_id in enumerate(ids):
        w, h = SIZES[k % len(SIZES)]
        smooth = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)  # photo-like: low detail
        image = Image.fromarray(smooth).resize((w, h), Image.Resampling.BILINEAR)
        path = root / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


def make_run(run_dir: Path, family: str, seed: int, ids: list[str], labels: np.ndarray, data: Path) -> None:
    """A finished run folder with the files the report reads (docs/run_folder.md), ~85% test accuracy."""
    rng = np.random.default_rng(seed + (100 if family == "siglip" else 0))
    classes = list(HAR_CLASSES)
    logits = rng.normal(0, 1, (len(ids), len(classes)))
    logits[np.arange(len(ids)), labels] += rng.normal(3.2 if family == "siglip" else 2.8, 1.2, len(ids))
    table = predictions_table(ids, labels, logits, classes)
    identity = {"model_type": family, "dataset_fingerprint": "bench", "seed": seed}
    config = {
        "family": family,
        "model_type": family,
        "identity": identity,
        "dataset": {"kind": "folder", "root": str(data)},
    }
    write(run_dir / "run_config.json", config)
    write(run_dir / "config.json", {"model_type": family, "id2label": {str(i): c for i, c in enumerate(classes)}})
    table.to_csv(run_dir / "test_predictions.csv", index=False)
    probabilities_table(ids, logits, classes).to_csv(run_dir / "test_probabilities.csv", index=False)
    per_class_report(table, classes).to_csv(run_dir / "classification_report.csv", index=False)
    history = [{"loss": 2.0 / (1 + s), "learning_rate": 1e-5, "epoch": s / 10, "step": s} for s in range(1, 31)]
    history += [
        {"eval_loss": 0.5, "eval_accuracy": 0.8 + 0.02 * e, "epoch": float(e), "step": 10 * e} for e in (1, 2, 3)
    ]
    write(run_dir / "trainer_state.json", {"log_history": history, "global_step": 30})
    accuracy = float((table["label"] == table["prediction"]).mean())
    write(run_dir / "all_results.json", {"model_type": family, "test_accuracy": accuracy, "epochs": 3.0})


def time_html_only(campaign: Path, out: Path) -> float:
    """The HTML step alone, in this process (imports done before): browse views, cleanlab, thumbnails, pages."""
    from har_finetune.reporting import groups
    from har_finetune.reporting.document import Paragraph, Report
    from har_finetune.reporting.html.site import write_html_report
    from har_finetune.reporting.loading import load_records

    records = load_records([campaign])
    compared = groups.compare([(f"{r.run_dir.parent.name}/{r.run_dir.name}", r) for r in records])
    import cleanlab.filter  # noqa: F401  imports outside the clock (a fresh process spends ~5 s on these two)

    from har_finetune.data import sources  # noqa: F401

    start = time.perf_counter()
    write_html_report(out, Report("bench", (Paragraph("HTML only"),)), compared)
    return time.perf_counter() - start


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], prog="python benchmarks/html_report.py")
    parser.add_argument("--images", type=int, default=1900, help="test images (HAR's carved test split: 1,890)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model (2 models)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="html_report_bench_") as tmp:
        root = Path(tmp)
        labels = np.arange(args.images) % len(HAR_CLASSES)
        ids = [f"train/{HAR_CLASSES[c]}/Image_{i}.jpg" for i, c in enumerate(labels)]
        make_images(root / "data", ids)
        for family in ("clip", "siglip"):
            for seed in range(1, args.seeds + 1):
                make_run(root / "campaign" / family / f"seed-{seed}", family, seed, ids, labels, root / "data")
        command = [sys.executable, str(REPO / "plot_metrics.py"), str(root / "campaign"), "--out", str(root / "report")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        html_seconds = time_html_only(root / "campaign", root / "html_only")
        size, count = folder_size(root / "report")
        thumbs = len(list((root / "report" / "thumbs").iterdir()))
        print("html report: plot_metrics.py on a campaign folder, fresh process")
        print("| runs x test images | plot_metrics.py | its CPU time | HTML step alone | folder | files | thumbnails |")
        print("|---|---|---|---|---|---|---|")
        print(
            f"| {2 * args.seeds} x {args.images:,} | {seconds:.1f} s | {cpu:.1f} s | {html_seconds:.1f} s | "
            f"{size / 1e6:.1f} MB | {count:,} | {thumbs:,} |"
        )
        load = os.getloadavg()[0]
        print(f"(CPUs available: {len(os.sched_getaffinity(0))}, load average {load:.1f}; figures, REPORT.md included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
