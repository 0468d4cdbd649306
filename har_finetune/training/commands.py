"""The training commands: `fine_tune_har_clip.py` / `har-finetune-clip` and the SigLIP pair.

`--help` is answered from the settings alone, without importing the training stack (about twice as fast).
"""

import sys

from har_finetune.core.cli import run_cli


def train_command(family: str, argv: list[str] | None = None) -> None:
    """Parse, check and train a run of the `family` script; exits with the run's code (docs/run_folder.md)."""
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        from har_finetune.settings.parser import parse_flags

        run_cli(lambda: parse_flags(argv, family))
    from har_finetune.training.job import main  # the training stack: torch, transformers, the data layer

    run_cli(lambda: main(argv, family=family))


def clip_cli() -> None:
    train_command("clip")


def siglip_cli() -> None:
    train_command("siglip")
