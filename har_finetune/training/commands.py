"""The training commands: `fine_tune_har_clip.py` / `har-finetune-clip` and the SigLIP pair.

The settings are parsed and checked before the training stack is imported: a flag error or `--help` costs the
imports of torch and transformers' TrainingArguments, not those of the data layer, the models and Trainer
(benchmarks/startup.py measures both; docs/performance.md has the figures).
"""

import sys
from pathlib import Path

from har_finetune.core.cli import run_cli


def train_command(family: str, argv: list[str] | None = None) -> None:
    """Parse, check and train a run of the `family` script; exits with the run's code (docs/run_folder.md)."""
    argv = sys.argv[1:] if argv is None else argv
    run_dirs = []  # the run folder, once parsed: what Ctrl-C reports on

    def parse_then_train() -> int:
        from har_finetune.settings.parser import parse_run

        spec = parse_run(argv, family)  # --help and every flag error end here
        run_dirs.append(spec.run_dir)
        from har_finetune.training.job import run  # the training stack: the data layer, models, Trainer

        return run(spec)

    run_cli(parse_then_train, lambda: what_resumes(run_dirs[0]) if run_dirs else "nothing was started")


def what_resumes(run_dir: Path) -> str:
    """After Ctrl-C: what the same command does next in `run_dir` (resume from its newest complete checkpoint)."""
    from har_finetune.run_folder.checkpoints import latest_complete_checkpoint, run_is_finished

    if run_is_finished(run_dir):
        return f"the run in {run_dir} had finished; its results are complete"
    checkpoint = latest_complete_checkpoint(run_dir)
    if checkpoint:
        return f"the same command resumes the run in {run_dir} from {Path(checkpoint).name}, its newest checkpoint"
    return f"no checkpoint in {run_dir} yet: the same command starts the run again"


def clip_cli() -> None:
    train_command("clip")


def siglip_cli() -> None:
    train_command("siglip")
