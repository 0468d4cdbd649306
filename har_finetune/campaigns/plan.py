"""What a campaign is: models x seeds, its flags, and its record (`<output_dir>/campaign.json`).

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har --dataset data/har

`--models` entries are FAMILY[=CHECKPOINT]; each model's seeds run into `<output_dir>/<name>/seed-<N>`, where the
name is the family, or the checkpoint's last path part (`siglip=google/siglip2-base-patch16-224` ->
`siglip2-base-patch16-224`). The record names the tasks, their Slurm jobs and logs, so that `status` and the report
job read one file instead of guessing; a task's run folder stays an ordinary run folder (docs/run_folder.md).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

from har_finetune.core.errors import UserError
from har_finetune.run_folder.files import write_json

FAMILIES = ("clip", "siglip")
RECORD = "campaign.json"
REPORT_DIR = "report"
LOG_DIR = "logs"
# flags the campaign sets itself for each task
CAMPAIGN_OWNS = ("seed", "sweep", "task_index", "model_name_or_path", "output_dir")


@dataclass(frozen=True)
class Model:
    """One `--models` entry: the training script's family, the checkpoint (None: the family's default) and the
    folder name of its seed group."""

    family: str
    checkpoint: str | None
    name: str

    @classmethod
    def parse(cls, entry: str) -> Model:
        family, _, checkpoint = entry.partition("=")
        if family not in FAMILIES:
            raise UserError(f"--models {entry}: the family must be one of {', '.join(FAMILIES)} (FAMILY[=CHECKPOINT])")
        if "=" in entry and not checkpoint:
            raise UserError(f"--models {entry}: no checkpoint after '='; write {family} or {family}=CHECKPOINT")
        name = re.sub(r"[^A-Za-z0-9.,+=-]", "_", Path(checkpoint.rstrip("/")).name) if checkpoint else family
        return cls(family, checkpoint or None, name)


@dataclass(frozen=True)
class Task:
    model: Model
    seed: int
    run_dir: Path

    @property
    def label(self) -> str:
        return f"{self.model.name}/seed-{self.seed}"


@dataclass(frozen=True)
class Plan:
    """A campaign: every model trained with seeds 1..seeds, the same training flags, one output folder."""

    models: tuple[Model, ...]
    seeds: int
    output_dir: Path
    training_flags: tuple[str, ...]

    def tasks(self) -> list[Task]:
        return [Task(m, s, self.model_dir(m) / f"seed-{s}") for m in self.models for s in range(1, self.seeds + 1)]

    def model_dir(self, model: Model) -> Path:
        return self.output_dir / model.name

    def model_argv(self, model: Model) -> list[str]:
        """The training flags of `model`'s tasks, without the seed (the array index or --task_index gives it)."""
        checkpoint = ["--model_name_or_path", model.checkpoint] if model.checkpoint else []
        return [*self.training_flags, *checkpoint, "--output_dir", str(self.model_dir(model))]

    @property
    def report_dir(self) -> Path:
        return self.output_dir / REPORT_DIR

    @property
    def log_dir(self) -> Path:
        return self.output_dir / LOG_DIR


def add_plan_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", required=True, metavar="FAMILY[=CHECKPOINT]", help="models to train")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N per model (default 3)")
    parser.add_argument("--output_dir", type=Path, required=True, help="campaign folder: <name>/seed-<N>, report/")


def plan_from(args: argparse.Namespace, training_flags: list[str]) -> Plan:
    models = tuple(Model.parse(entry) for entry in args.models)
    names = [m.name for m in models]
    if len(set(names)) < len(names):
        raise UserError(f"--models {' '.join(args.models)}: two models share a folder name ({names}); list each once")
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1 (got {args.seeds})")
    for flag in training_flags:
        key = flag.lstrip("-").split("=", 1)[0]
        if flag.startswith("--") and key in CAMPAIGN_OWNS:
            raise UserError(f"{flag} is set by the campaign for each task (--models, --seeds, --output_dir): drop it")
    return Plan(models, args.seeds, args.output_dir.resolve(), tuple(training_flags))


def write_record(plan: Plan, **extra) -> Path:
    record = {
        "models": [{"family": m.family, "checkpoint": m.checkpoint, "name": m.name} for m in plan.models],
        "seeds": plan.seeds,
        "training_flags": list(plan.training_flags),
        **extra,
    }
    return write_json(plan.output_dir / RECORD, record)


def read_record(output_dir: Path) -> tuple[Plan, dict] | None:
    """The campaign recorded in `output_dir`, and the record itself; None when there is none (or it is unreadable)."""
    try:
        record = json.loads((Path(output_dir) / RECORD).read_text())
        models = tuple(Model(m["family"], m["checkpoint"], m["name"]) for m in record["models"])
        plan = Plan(models, int(record["seeds"]), Path(output_dir).resolve(), tuple(record["training_flags"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return plan, record


def update_record(output_dir: Path, **changes) -> None:
    found = read_record(output_dir)
    if found is not None:
        write_json(Path(output_dir) / RECORD, found[1] | changes)
