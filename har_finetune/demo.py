"""Offline smoke demo: the whole pipeline on CPU in a minute or two, with nothing downloaded.

    make demo                     # or: python -m har_finetune.demo [--out outputs/demo]

It generates a small, learnable image set with the 15 HAR class names (colour-coded synthetic images, NOT
HAR photos) and tiny random CLIP and SigLIP checkpoints, then fine-tunes both end to end exactly like a real
run, writing the usual run folders to outputs/demo/clip and outputs/demo/siglip. Expect test accuracy far
above chance (1/15 = 6.7%); the numbers say the pipeline works, nothing about HAR.
"""

import argparse
import json
import logging
import shutil
from pathlib import Path

from har_finetune.core.cli import run_cli
from har_finetune.data.synthetic import make_synthetic_har
from har_finetune.models.tiny import make_tiny_checkpoint
from har_finetune.reporting.report import plot_and_report
from har_finetune.reporting.samples import visualize_run
from har_finetune.run_folder.files import RESULTS, RUN_CONFIG
from har_finetune.training.job import main as train_main

logger = logging.getLogger("har_finetune")

DEMO_TRAINING_FLAGS = [
    "--num_train_epochs", "6", "--learning_rate", "1e-3", "--per_device_train_batch_size", "32",
    "--logging_steps", "5", "--dataloader_num_workers", "0",
]  # fmt: skip


def run_demo(out: Path, images_per_class: int = 40) -> dict[str, dict]:
    """Build the demo material under `out` and fine-tune both families, every time.

    The generated images are reused if present (seeded, so the same); the tiny checkpoints are remade (seeded and
    cheap: always this version's); earlier demo runs are replaced, since a finished run folder would otherwise be
    kept and not retrained (docs/run_folder.md) and the demo would only print the old figures.
    """
    data = out / "data" / "synthetic_har"
    if not (data / "train").is_dir():
        make_synthetic_har(data, images_per_class=images_per_class)
    results = {}
    for family in ("clip", "siglip"):
        checkpoint = out / "checkpoints" / f"tiny-{family}"
        shutil.rmtree(checkpoint, ignore_errors=True)
        make_tiny_checkpoint(family, checkpoint)
        run_dir = out / family
        if (run_dir / RUN_CONFIG).is_file():  # only our own run folders; train refuses anything else
            shutil.rmtree(run_dir)
        code = train_main(
            [
                "--dataset",
                str(data),
                "--model_name_or_path",
                str(checkpoint),
                "--output_dir",
                str(run_dir),
                *DEMO_TRAINING_FLAGS,
            ],
            family=family,
        )
        if code != 0:
            raise SystemExit(code)
        results[family] = json.loads((run_dir / RESULTS).read_text())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m har_finetune.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="demo folder (data, models, runs)")
    args = parser.parse_args(argv)
    results = run_demo(args.out)
    runs = [args.out / family for family in results]
    plot_and_report(runs, args.out / "compare")
    for run in runs:
        visualize_run(run, args.out / "samples" / run.name, title=f"{run.name} (smoke demo, synthetic images)")
    print("\nSMOKE DEMO on synthetic colour-coded images (not HAR results):")
    for family, r in results.items():
        print(
            f"  {family:7s} test accuracy {r['test_accuracy']:.3f}  macro-F1 {r['test_macro_f1']:.3f}  "
            f"({r['num_test_samples']} test images, chance 0.067)  -> {args.out / family}"
        )
    print(f"  report: {args.out / 'compare' / 'REPORT.md'}   samples: {args.out / 'samples'}")
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
