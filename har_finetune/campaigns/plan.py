"""What a campaign is: models x tasks (seeds, or a sweep's tasks), its flags, and its record (`campaign.json`).

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har --dataset data/har
    python -m har_finetune.campaign run --models clip --sweep recipes/sweep_lr_decay.yaml --seeds 3 --output_dir ...

`--models` entries are FAMILY[=CHECKPOINT]; each model's tasks run into `<output_dir>/<name>/<task folder>`, where the
name is the family, or the checkpoint's last path part (`siglip=google/siglip2-base-patch16-224` ->
`siglip2-base-patch16-224`). The tasks of a model are settings/tasks.py's `campaign_tasks` over `<output_dir>/<name>`,
the same that the training parser resolves from each index, so every folder the campaign follows and reports is one that
its training tasks write (`seed-<N>`, or named after a sweep task's values). With --sweep the campaign writes its tasks
to `<output_dir>/sweep.yaml` (the seeds of --seeds folded in) and every task reads that file. The record names the
tasks, their Slurm jobs and logs, so that `status` and the report job read one file instead of guessing; a task's run
folder stays an ordinary run folder (docs/run_folder.md).
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from har_finetune.core.defaults import SCRIPT_FAMILIES
from har_finetune.core.errors import UserError
from har_finetune.core.local_paths import missing_path_message
from har_finetune.run_folder.files import write_bytes, write_json, write_text
from har_finetune.settings.tasks import TASK_OWNS, Task, campaign_tasks, sweep_text

RECORD = "campaign.json"
SWEEP_COPY = "sweep.yaml"  # the campaign's tasks as a sweep file: its training tasks and status read it
REPORT_DIR = "report"
LOG_DIR = "logs"
DEFAULT_SEEDS = 3
# flags the campaign sets for each task (a seed campaign's --seed: refused by the training parser, settings/tasks.py)
CAMPAIGN_OWNS = (*TASK_OWNS, "model_name_or_path")


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
        if family not in SCRIPT_FAMILIES:
            families = ", ".join(SCRIPT_FAMILIES)
            raise UserError(f"--models {entry}: the family must be one of {families} (FAMILY[=CHECKPOINT])")
        if "=" in entry and not checkpoint:
            raise UserError(f"--models {entry}: no checkpoint after '='; write {family} or {family}=CHECKPOINT")
        name = re.sub(r"[^A-Za-z0-9.,+=-]", "_", Path(checkpoint.rstrip("/")).name) if checkpoint else family
        return cls(family, checkpoint or None, name)


@dataclass(frozen=True)
class ModelTask:
    """A task of the campaign: one model, and its training task as the training parser resolves it from the index."""

    model: Model
    task: Task

    @property
    def label(self) -> str:
        return f"{self.model.name}/{self.task.name}"

    @property
    def run_dir(self) -> Path:
        return self.task.run_dir

    @property
    def index(self) -> int:
        return self.task.index


@dataclass(frozen=True)
class Plan:
    """A campaign: every model trained on seeds 1..seeds, or on every task of the campaign's sweep file (`seeds`
    None), the same training flags, one output folder."""

    models: tuple[Model, ...]
    seeds: int | None
    output_dir: Path
    training_flags: tuple[str, ...]
    sweep: Path | None = None

    def model_tasks(self, model: Model) -> list[Task]:
        return campaign_tasks(self.model_dir(model), self.sweep, range(1, (self.seeds or 0) + 1))

    def tasks(self) -> list[ModelTask]:
        return [ModelTask(model, task) for model in self.models for task in self.model_tasks(model)]

    def model_dir(self, model: Model) -> Path:
        return self.output_dir / model.name

    def model_argv(self, model: Model) -> list[str]:
        """The training flags of `model`'s tasks, without the index (the array index or --task_index gives it)."""
        checkpoint = ["--model_name_or_path", model.checkpoint] if model.checkpoint else []
        sweep = ["--sweep", str(self.sweep)] if self.sweep else []
        return [*self.training_flags, *checkpoint, *sweep, "--output_dir", str(self.model_dir(model))]

    def task_argv(self, task: ModelTask) -> list[str]:
        """What `task` trains with: `--task_index N` is what SLURM_ARRAY_TASK_ID=N gives an array task."""
        return [*self.model_argv(task.model), "--task_index", str(task.index)]

    @property
    def report_dir(self) -> Path:
        return self.output_dir / REPORT_DIR

    @property
    def log_dir(self) -> Path:
        return self.output_dir / LOG_DIR


def add_plan_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", required=True, metavar="FAMILY[=CHECKPOINT]", help="models to train")
    parser.add_argument("--seeds", type=int, help=f"seeds 1..N per model (default {DEFAULT_SEEDS}; none with --sweep)")
    parser.add_argument(
        "--sweep", type=Path, metavar="FILE", help="every task of a sweep file per model (with --seeds: once per seed)"
    )
    parser.add_argument("--output_dir", type=Path, required=True, help="campaign folder: <name>/<task>/, report/")


def plan_from(args: argparse.Namespace, training_flags: list[str]) -> Plan:
    models = tuple(Model.parse(entry) for entry in args.models)
    names = [m.name for m in models]
    if len(set(names)) < len(names):
        raise UserError(f"--models {' '.join(args.models)}: two models share a folder name ({names}); list each once")
    seeds = args.seeds if args.seeds is not None or args.sweep else DEFAULT_SEEDS
    if seeds is not None and seeds < 1:
        raise UserError(f"--seeds must be at least 1 (got {seeds})")
    for flag in training_flags:
        key = flag.lstrip("-").split("=", 1)[0]
        if flag.startswith("--") and key in CAMPAIGN_OWNS:
            raise UserError(f"{flag} is set by the campaign for each task (--models, --seeds, --output_dir): drop it")
    output_dir = args.output_dir.resolve()
    if args.sweep:
        return Plan(models, None, output_dir, tuple(training_flags), staged_sweep(args.sweep, seeds))
    return Plan(models, seeds, output_dir, tuple(training_flags))


def staged_sweep(sweep: Path, seeds: int | None) -> Path:
    """The campaign's tasks as a sweep file (with `seeds`, each task of `sweep` once per seed), in a temporary file
    until `begin` copies it into the campaign folder: the checks, the record and every training task read one file,
    so they see the same tasks."""
    planned = campaign_tasks(".", sweep, range(1, (seeds or 0) + 1))
    fd, name = tempfile.mkstemp(prefix=f"har-campaign-{sweep.stem}-", suffix=".yaml")
    os.close(fd)
    atexit.register(Path(name).unlink, missing_ok=True)
    staged = write_text(name, sweep_text(planned))
    if campaign_tasks(".", staged) != planned:  # a value that YAML does not give back: never train elsewhere
        raise UserError(f"--sweep {sweep}: its tasks do not survive being written to a sweep file; please report it")
    return staged


def begin(plan: Plan, **extra) -> Plan:
    """Write the campaign's record, and its sweep file into the campaign folder, before any task starts; returns the
    plan as recorded, whose tasks (and the training tasks) read that file."""
    copy = plan.output_dir / SWEEP_COPY
    if plan.sweep and plan.sweep != copy:
        write_bytes(copy, plan.sweep.read_bytes())
        plan = dataclasses.replace(plan, sweep=copy)
    write_record(plan, **extra)
    return plan


def write_record(plan: Plan, **extra) -> Path:
    record = {
        "models": [{"family": m.family, "checkpoint": m.checkpoint, "name": m.name} for m in plan.models],
        "seeds": plan.seeds,
        "sweep": plan.sweep.name if plan.sweep else None,
        "training_flags": list(plan.training_flags),
        **extra,
    }
    return write_json(plan.output_dir / RECORD, record)


def read_record(output_dir: Path) -> tuple[Plan, dict] | None:
    """The campaign recorded in `output_dir`, and the record itself; None when there is none (or it is unreadable)."""
    output_dir = Path(output_dir).resolve()
    try:
        record = json.loads((output_dir / RECORD).read_text())
        models = tuple(Model(m["family"], m["checkpoint"], m["name"]) for m in record["models"])
        sweep = output_dir / record["sweep"] if record.get("sweep") else None
        seeds = None if sweep else int(record["seeds"])
        plan = Plan(models, seeds, output_dir, tuple(record["training_flags"]), sweep)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return plan, record


def load_campaign(output_dir: Path) -> tuple[Plan, dict]:
    """`read_record`, or one line saying there is no campaign in `output_dir` (status and report: exit 2)."""
    found = read_record(output_dir)
    if found is None and not Path(output_dir).exists():
        raise UserError(missing_path_message("", output_dir, "the campaign's --output_dir (campaign submit or run)"))
    if found is None:
        raise UserError(f"{output_dir}: no campaign here (no readable {RECORD}: written by `campaign submit` or `run`)")
    return found


def update_record(output_dir: Path, **changes) -> None:
    found = read_record(output_dir)
    if found is not None:
        write_json(Path(output_dir) / RECORD, found[1] | changes)
