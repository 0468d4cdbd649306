"""Campaign tasks: several seeds, or a grid of settings, run as one Slurm job array (or `--task_index N` in a loop).

- Seeds: with `SLURM_ARRAY_TASK_ID` (or `--task_index`) and no `--sweep`, the index is the training `--seed` and the
  run folder is `<output_dir>/seed-<N>`. The split does not depend on it (`--split_seed`), so the seeds are scored
  on the same test images and the report can pair them.
- Sweeps: `--sweep FILE` (a grid of flag values, or a list of variants) with the index choosing one task; its run
  folder is named after its values.

`resolve_task` applies the task to the parsed values (settings/parser.py), so a campaign task is an ordinary run:
its own run folder, exact resume, a finished task is not trained again. `campaign_tasks` builds the same tasks for
`python -m har_finetune.campaign` (campaigns/plan.py): what a campaign submits, runs, follows and reports is what
training resolves for each index, since both come from here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from har_finetune.core.errors import UserError
from har_finetune.settings.recipes import read_text

ARRAY_ENV = "SLURM_ARRAY_TASK_ID"


@dataclass
class CampaignArguments:
    """Campaign flags: consumed while parsing (resolve_task turns them into the task's seed or settings and its run
    folder), never part of a run's settings."""

    sweep: str | None = field(
        default=None,
        metadata={
            "help": "A sweep file (YAML: flag names to lists of values): this run is one task of it, chosen by "
            "--task_index or the Slurm array index; `python -m har_finetune.campaign --sweep FILE` lists the tasks."
        },
    )
    task_index: int | None = field(
        default=None,
        metadata={
            "help": "The campaign task to run without Slurm (else $SLURM_ARRAY_TASK_ID): the seed of a seed "
            "campaign (run folder <output_dir>/seed-N) or the task of --sweep."
        },
    )


# The flags a task owns: those that choose it (command line only: never in a recipe or a sweep file) and its run
# folder (named after its values). A seed campaign's task owns --seed too (refused in resolve_task); the
# campaign commands also set --model_name_or_path per model (campaigns/plan.py).
CHOOSES_TASK = tuple(f.name for f in fields(CampaignArguments))  # sweep, task_index
TASK_OWNS = (*CHOOSES_TASK, "output_dir")
Overrides = tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Task:
    """One task of a campaign: the index that selects it (the Slurm array index, or --task_index), its settings
    (appended to the user's flags) and its run folder."""

    index: int
    overrides: Overrides  # (flag name, value); a list value is a multi-value flag
    output_dir: str

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir)

    @property
    def name(self) -> str:
        """The run folder's name: `seed-3`, `learning_rate-0.001_seed-1`, `base`."""
        return self.run_dir.name

    def override_flags(self) -> list[str]:
        argv = []
        for key, value in self.overrides:
            argv += [f"--{key}", *(map(str, value) if isinstance(value, list) else [str(value)])]
        return argv

    def flags(self) -> list[str]:
        return [*self.override_flags(), "--output_dir", self.output_dir]


def read_sweep(path: str | Path) -> list[Overrides]:
    """The settings of each task of a sweep file, in task order.

    Two forms: a mapping of flag names to lists of values (a grid: every combination, the last key fastest), or a
    list of mappings (variants: one task each, e.g. ablations that change one thing at a time)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--sweep {path}: no such file; a sweep file is a YAML mapping of flag names to value lists")
    try:
        content = yaml.safe_load(read_text(path, "--sweep"))
    except yaml.YAMLError as e:
        raise UserError(f"--sweep {path} is not valid YAML ({' '.join(str(e).split())})") from None
    if isinstance(content, list) and content and all(isinstance(item, dict) for item in content):
        return [_checked(path, {key: [value] for key, value in item.items()})[0] for item in content]
    if not isinstance(content, dict) or not content:
        raise UserError(
            f"--sweep {path}: expected a mapping of flag names to lists ('seed: [1, 2]') or a list of mappings"
        )
    if not any(isinstance(values, list) for values in content.values()):
        raise UserError(
            f"--sweep {path} is a recipe (name: value, no lists of values), not a sweep file: put it first on the "
            f"command line (python fine_tune_har_clip.py {path} ...), or give each swept flag a list of values"
        )
    for key, values in content.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"--sweep {path}: '{key}' must map to a non-empty list of values (got {values!r})")
    return _checked(path, content)


def _checked(path: Path, grid: dict) -> list[Overrides]:
    grid = {str(key).lstrip("-"): values for key, values in grid.items()}
    for key in grid:
        if key in TASK_OWNS:
            raise UserError(f"--sweep {path}: '{key}' cannot be swept (a task's run folder is named after its values)")
    return [tuple(zip(grid, values)) for values in itertools.product(*grid.values())]


def _name_part(value: object) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return re.sub(r"[^A-Za-z0-9.,+=-]", "_", text)  # safe in a path on every filesystem


def sweep_tasks(combinations: list[Overrides], output_dir: str) -> list[Task]:
    """One task per combination, with its run folder under `output_dir` named after its overrides."""
    tasks = []
    for index, overrides in enumerate(combinations):
        name = "_".join(f"{key}-{_name_part(value)}" for key, value in overrides) or "base"
        tasks.append(Task(index, overrides, str(Path(output_dir) / name)))
    return tasks


def seed_task(seed: int, output_dir: str) -> Task:
    """Task `seed` of a seed campaign: that training seed, into `<output_dir>/seed-<seed>`."""
    return Task(seed, (("seed", seed),), str(Path(output_dir) / f"seed-{seed}"))


def campaign_tasks(output_dir: str | Path, sweep: str | Path | None, seeds: Iterable[int] = ()) -> list[Task]:
    """The tasks of a campaign into `output_dir`: every task of the sweep file (with `seeds`, each once per seed,
    the seed varying fastest: `campaign submit --sweep FILE --seeds 3`), else one per seed (index = seed)."""
    seeds = list(seeds)
    if sweep is None:
        return [seed_task(seed, str(output_dir)) for seed in seeds]
    combinations = read_sweep(sweep)
    if seeds and any(key == "seed" for overrides in combinations for key, _ in overrides):
        raise UserError(f"--sweep {sweep} sweeps the seed already: drop --seeds, or the seed from the file")
    if seeds:
        combinations = [(*overrides, ("seed", seed)) for overrides in combinations for seed in seeds]
    return sweep_tasks(combinations, str(output_dir))


def sweep_text(tasks: list[Task]) -> str:
    """A sweep file of these tasks, in order (a list of variants: `read_sweep` gives back their overrides)."""
    return yaml.safe_dump([dict(task.overrides) for task in tasks], sort_keys=False, default_flow_style=None)


def array_range(tasks: list[Task]) -> str:
    """The `sbatch --array` range of these tasks: `1-3` for seeds 1-3, `0-3` for a sweep of 4."""
    return f"{tasks[0].index}-{tasks[-1].index}"


def _index(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{where} must be a whole number (got {value!r})") from None


def resolve_task(values: dict, given: set[str], env: dict[str, str]) -> Task | None:
    """The campaign task these parsed values ask for (`--sweep`, `--task_index`, the Slurm array index), or None.

    Consumes `sweep` and `task_index` from `values`. `given` holds the settings named on the command line: one
    that the task sets too is refused (the seed of a seed campaign, a swept flag)."""
    sweep, index = values.pop("sweep", None), values.pop("task_index", None)
    if index is None and env.get(ARRAY_ENV):
        index = _index(env[ARRAY_ENV], ARRAY_ENV)
    if index is None:
        if sweep is not None:
            raise UserError(
                f"--sweep {sweep} runs one combination per task: submit it as a Slurm array "
                f"(python -m har_finetune.campaign --sweep {sweep} prints the --array range) or add --task_index N"
            )
        return None
    if sweep is None:
        if "seed" in given:
            raise UserError(
                f"--seed is taken from the task index in a seed campaign (task {index} trains seed {index}, the "
                "Slurm array index or --task_index): drop --seed"
            )
        return seed_task(index, values["output_dir"])
    tasks = campaign_tasks(values["output_dir"], sweep)
    if not 0 <= index < len(tasks):
        raise UserError(
            f"task {index} is beyond the {len(tasks)} tasks of {sweep}: submit with --array=0-{len(tasks) - 1}"
        )
    clashes = [key for key, _ in tasks[index].overrides if key in given]
    if clashes:
        raise UserError(f"--{clashes[0]} is both on the command line and in the sweep file {sweep}: keep one")
    return tasks[index]
