"""The training commands: `fine_tune_har_clip.py` / `har-finetune-clip` and the SigLIP pair.

The settings are parsed and checked before the training stack is imported: a flag error or `--help` costs the
imports of torch and transformers' TrainingArguments, not those of the data layer, the models and Trainer
(benchmarks/startup.py measures both; docs/performance.md has the figures).
"""

import sys

from har_finetune.core.cli import run_cli


def train_command(family: str, argv: list[str] | None = None) -> None:
    """Parse, check and train a run of the `family` script; exits with the run's code (docs/run_folder.md)."""
    argv = sys.argv[1:] if argv is None else argv

    def parse_then_train() -> int:
        from har_finetune.settings.parser import parse_run

        spec = parse_run(argv, family)  # --help and every flag error end here
        from har_finetune.training.job import run  # the training stack: the data layer, models, Trainer

        return run(spec)

    run_cli(parse_then_train)


def clip_cli() -> None:
    train_command("clip")


def siglip_cli() -> None:
    train_command("siglip")
