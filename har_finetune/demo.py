"""Offline smoke demo: a whole campaign on CPU, 2 tiny models x 3 seeds to the report, with nothing downloaded.

    make demo                     # or: python -m har_finetune.demo [--out outputs/demo]    (39-48 s on 2 shared cores)

It generates a small, learnable image set with the 15 HAR class names (colour-coded synthetic images, NOT
HAR photos) and tiny CLIP and SigLIP checkpoints (fixed weights: models/tiny.py), then runs the campaign exactly
like a real one (`python -m har_finetune.campaign run`, the Slurm campaign's tasks in this process): seeds 1-3 of
each model into outputs/demo/clip/seed-<N> and outputs/demo/siglip/seed-<N>, then outputs/demo/report/REPORT.md with
the seed groups and the verdict, its figures and annotated samples (report/SampleOutputs/). Expect test accuracy far
above chance (1/15 = 6.7%); the numbers say the pipeline works, nothing about HAR.
"""

import argparse
import shutil
from pathlib import Path

from har_finetune.campaigns.local import run_campaign
from har_finetune.campaigns.plan import Model, Plan
from har_finetune.campaigns.report import write_report
from har_finetune.campaigns.status import status_lines
from har_finetune.core.cli import run_cli
from har_finetune.core.defaults import SCRIPT_FAMILIES
from har_finetune.core.errors import RUN_FAILED_EXIT_CODE
from har_finetune.data.synthetic import FOLDER_NAME, make_synthetic_har
from har_finetune.models.tiny import make_tiny_checkpoint
from har_finetune.run_folder.reader import RunRecord

SEEDS = 3
DEMO_TRAINING_FLAGS = [
    "--num_train_epochs", "6", "--learning_rate", "1e-3", "--per_device_train_batch_size", "32",
    "--logging_steps", "5", "--dataloader_num_workers", "0", "--disable_tqdm", "True",
]  # fmt: skip


def demo_plan(out: Path, images_per_class: int = 40) -> Plan:
    """Build the demo material under `out` and the campaign over it, with earlier demo runs removed.

    The generated images are reused if present (seeded, so the same); the tiny checkpoints are remade (seeded and
    cheap: always this version's); earlier demo runs are replaced, since a finished run folder would otherwise be
    kept and not retrained (docs/run_folder.md) and the demo would only print the old figures.
    """
    data = out / "data" / FOLDER_NAME
    if not (data / "train").is_dir():
        make_synthetic_har(data, images_per_class=images_per_class)
    models = []
    for family in SCRIPT_FAMILIES:
        checkpoint = out / "checkpoints" / family
        shutil.rmtree(checkpoint, ignore_errors=True)
        make_tiny_checkpoint(family, checkpoint)
        models.append(Model(family, str(checkpoint), family))
        for run_dir in (out / family).glob("seed-*"):
            if RunRecord(run_dir).is_ours:  # only our own run folders; training refuses anything else
                shutil.rmtree(run_dir)
    shutil.rmtree(out / "report", ignore_errors=True)
    return Plan(tuple(models), SEEDS, out.resolve(), ("--dataset", str(data), *DEMO_TRAINING_FLAGS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m har_finetune.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="demo folder (data, models, runs)")
    args = parser.parse_args(argv)
    plan = demo_plan(args.out)
    outcomes = run_campaign(plan)
    write_report(plan.output_dir)
    print("\nSMOKE DEMO on synthetic colour-coded images (not HAR results; chance 0.067):")
    print("\n".join("  " + line for line in status_lines(plan.output_dir)))
    return RUN_FAILED_EXIT_CODE if any(o["exit_code"] for o in outcomes.values()) else 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
