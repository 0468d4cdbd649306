"""Campaigns: several seeds, or a grid of settings, as one Slurm job array (or a loop of plain commands).

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har   # to the report
    python -m har_finetune.campaign run ...      # the same without Slurm;  ... status outputs/har: where it stands
      (har_finetune/campaigns/: models x seeds as job arrays plus a dependent report job; what follows is one task)

    sbatch --array=1-3 -o 'logs/%x-%A_%a.out' fine_tune_har_siglip.slurm   # seeds 1-3 -> outputs/siglip/seed-<N>
    python -m har_finetune.campaign --sweep recipes/sweep_lr_decay.yaml    # how many tasks, what each one runs
    sbatch --array=0-3 -o 'logs/%x-%A_%a.out' fine_tune_har_clip.slurm --sweep recipes/sweep_lr_decay.yaml
    python fine_tune_har_clip.py --sweep recipes/sweep_lr_decay.yaml --task_index 2   # task 2, without Slurm

`task_argv` rewrites a task's command line before it is parsed (config.parse_args calls it), so a campaign task is
an ordinary run: its own run folder, exact resume, a finished task is not trained again.

- Seeds: with `SLURM_ARRAY_TASK_ID` (or `--task_index`) and no `--sweep`, the index is the training `--seed` and the
  run folder is `<output_dir>/seed-<N>`. The split does not depend on it (`--split_seed`), so the seeds are scored
  on the same test images and the report can pair them with other runs.
- Grids: a sweep file is a YAML mapping of flag names to lists of values. The combinations are taken in a fixed
  order, the file's keys in order with the last key varying fastest (like nested loops); task i runs combination i
  into `<output_dir>/<key>-<value>_<key>-<value>...` (the overrides, in the file's order). A multi-value flag takes a
  list per value (`wise_ft_alpha: [[0.5, 1.0], [1.0]]`).
- Variants: a sweep file that is a list of mappings runs one task per mapping, in order (ablations changing one
  thing at a time); an empty mapping `{}` is the unchanged base command, in `<output_dir>/base`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from har_finetune.core.errors import UserError, run_cli

ARRAY_ENV = "SLURM_ARRAY_TASK_ID"
CAMPAIGN_FLAGS = ("--sweep", "--task_index")


@dataclass(frozen=True)
class Task:
    """One task of a campaign: its flags (appended to the user's) and its run folder."""

    index: int
    overrides: tuple[tuple[str, object], ...]  # (flag name, value); a list value is a multi-value flag
    output_dir: str

    def flags(self) -> list[str]:
        argv = []
        for key, value in self.overrides:
            argv += [f"--{key}", *(map(str, value) if isinstance(value, list) else [str(value)])]
        return argv + ["--output_dir", self.output_dir]


Overrides = tuple[tuple[str, object], ...]
NOT_SWEPT = ("output_dir", "sweep", "task_index")  # a task's run folder is named after its values


def read_sweep(path: str | Path) -> list[Overrides]:
    """The settings of each task of a sweep file, in task order.

    Two forms: a mapping of flag names to lists of values (a grid: every combination, the last key fastest), or a
    list of mappings (variants: one task each, e.g. ablations that change one thing at a time)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--sweep {path}: no such file; a sweep file is a YAML mapping of flag names to value lists")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"--sweep {path} is not valid YAML ({' '.join(str(e).split())})") from None
    if isinstance(content, list) and content and all(isinstance(item, dict) for item in content):
        return [_checked(path, {key: [value] for key, value in item.items()})[0] for item in content]
    if not isinstance(content, dict) or not content:
        raise UserError(
            f"--sweep {path}: expected a mapping of flag names to lists ('seed: [1, 2]') or a list of mappings"
        )
    for key, values in content.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"--sweep {path}: '{key}' must map to a non-empty list of values (got {values!r})")
    return _checked(path, content)


def _checked(path: Path, grid: dict) -> list[Overrides]:
    grid = {str(key).lstrip("-"): values for key, values in grid.items()}
    for key in grid:
        if key in NOT_SWEPT:
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
    return Task(seed, (("seed", seed),), str(Path(output_dir) / f"seed-{seed}"))


def _pop_flag(argv: list[str], flag: str) -> tuple[list[str], str | None]:
    """argv without `flag VALUE` / `flag=VALUE`, and the value (the last one given)."""
    rest, value, i = [], None, 0
    while i < len(argv):
        if argv[i] == flag:
            if i + 1 >= len(argv):
                raise UserError(f"{flag} needs a value")
            value, i = argv[i + 1], i + 2
        elif argv[i].startswith(flag + "="):
            value, i = argv[i].split("=", 1)[1], i + 1
        else:
            rest, i = rest + [argv[i]], i + 1
    return rest, value


def _index(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{where} must be a whole number (got {value!r})") from None


def task_index(argv: list[str], env: dict[str, str]) -> tuple[list[str], int | None]:
    """`--task_index` (removed from argv) or else the Slurm array index; None outside a campaign."""
    argv, given = _pop_flag(argv, "--task_index")
    if given is not None:
        return argv, _index(given, "--task_index")
    if env.get(ARRAY_ENV):
        return argv, _index(env[ARRAY_ENV], ARRAY_ENV)
    return argv, None


def _given(argv: list[str], key: str) -> bool:
    return any(arg == f"--{key}" or arg.startswith(f"--{key}=") for arg in argv)


def task_argv(argv: list[str], default_output_dir: str, env: dict[str, str] | None = None) -> list[str]:
    """The command line of this campaign task (unchanged outside a campaign).

    Args:
        argv: the training flags (after any recipe file), possibly with `--sweep FILE` and `--task_index N`.
        default_output_dir: the run folder without campaign (the recipe's or `outputs/<family>`); the last
            `--output_dir` in argv takes precedence, as in parsing.
        env: the environment (default `os.environ`), for `SLURM_ARRAY_TASK_ID`.
    """
    env = os.environ if env is None else env
    argv, sweep = _pop_flag(list(argv), "--sweep")
    argv, index = task_index(argv, env)
    if index is None:
        if sweep is not None:
            raise UserError(
                f"--sweep {sweep} runs one combination per task: submit it as a Slurm array "
                f"(python -m har_finetune.campaign --sweep {sweep} prints the --array range) or add --task_index N"
            )
        return argv
    _, output_dir = _pop_flag(argv, "--output_dir")
    output_dir = output_dir or default_output_dir
    if sweep is None:
        if _given(argv, "seed"):
            raise UserError(f"--seed is taken from the array index ({index}) in a seed campaign: drop --seed")
        return argv + seed_task(index, output_dir).flags()
    tasks = sweep_tasks(read_sweep(sweep), output_dir)
    if not 0 <= index < len(tasks):
        raise UserError(
            f"task {index} is beyond the {len(tasks)} tasks of {sweep}: submit with --array=0-{len(tasks) - 1}"
        )
    clashes = [key for key, _ in tasks[index].overrides if _given(argv, key)]
    if clashes:
        raise UserError(f"--{clashes[0]} is both on the command line and in the sweep file {sweep}: keep one")
    return argv + tasks[index].flags()


def describe(sweep: str, output_dir: str, script: str, output_given: bool = False) -> str:
    """What `python -m har_finetune.campaign` prints: the task count, the commands, each task's overrides."""
    tasks = sweep_tasks(read_sweep(sweep), output_dir)
    last = len(tasks) - 1
    slurm_script = Path(script).with_suffix(".slurm")
    flags = f"--sweep {sweep}" + (f" --output_dir {output_dir}" if output_given else "")
    lines = [
        f"{sweep}: {len(tasks)} tasks (0-{last})",
        f"  Slurm:   sbatch --array=0-{last} -o 'logs/%x-%A_%a.out' {slurm_script} {flags} [flags]",
        f"  locally: for i in $(seq 0 {last}); do python {script} {flags} --task_index $i [flags]; done",
        "",
    ]
    for task in tasks:
        overrides = " ".join(task.flags()[:-2]) or "(the command as given)"
        lines.append(f"task {task.index}: {overrides} -> {task.output_dir}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("submit", "run", "status", "report"):  # from one command to the report
        from har_finetune.campaigns.cli import main as campaign_main

        return campaign_main(argv)
    parser = argparse.ArgumentParser(
        prog="python -m har_finetune.campaign",
        description="List the tasks of a sweep campaign: how many (the --array range) and what each one runs.",
    )
    parser.add_argument("--sweep", required=True, help="YAML mapping of flag names to lists of values")
    parser.add_argument("--family", choices=("clip", "siglip"), default="clip", help="the training script used")
    parser.add_argument("--output_dir", help="the campaign folder (default outputs/<family>, as the script's)")
    args = parser.parse_args(argv)
    output_dir = args.output_dir or f"outputs/{args.family}"
    print(describe(args.sweep, output_dir, f"fine_tune_har_{args.family}.py", args.output_dir is not None))
    return 0


if __name__ == "__main__":
    run_cli(main)
