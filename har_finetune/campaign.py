"""Campaigns: several seeds, or a grid of settings, as one Slurm job array (or a loop of plain commands).

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har   # to the report
    python -m har_finetune.campaign run ...      # the same without Slurm;  ... status outputs/har: where it stands
      (har_finetune/campaigns/: models x seeds as job arrays plus a dependent report job; what follows is one task)

    sbatch --array=1-3 -o 'logs/%x-%A_%a.out' fine_tune_har_siglip.slurm   # seeds 1-3 -> outputs/siglip/seed-<N>
    python -m har_finetune.campaign --sweep recipes/sweep_lr_decay.yaml    # how many tasks, what each one runs
    sbatch --array=0-3 -o 'logs/%x-%A_%a.out' fine_tune_har_clip.slurm --sweep recipes/sweep_lr_decay.yaml
    python fine_tune_har_clip.py --sweep recipes/sweep_lr_decay.yaml --task_index 2   # task 2, without Slurm

This command lists a sweep's tasks; settings/tasks.py turns a task's index into its settings and run folder when the
training command line is parsed, so a campaign task is an ordinary run: its own run folder, exact resume, a finished
task is not trained again.

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
import sys
from pathlib import Path

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import UserError
from har_finetune.settings.tasks import read_sweep, sweep_tasks


def check_tasks(sweep: str, output_dir: str, family: str, count: int) -> None:
    """Each task parsed and checked as the training script will parse it on its array index (settings/parser.py),
    so a misspelled flag, a bad value or a transformers 4 name stops here, not in every array task."""
    from har_finetune.settings.checks import check_settings
    from har_finetune.settings.parser import parse_flags

    for index in range(count):
        try:
            argv = ["--sweep", sweep, "--task_index", str(index), "--output_dir", output_dir]
            check_settings(parse_flags(argv, family, env={}))
        except UserError as error:
            raise UserError(f"--sweep {sweep} task {index}: {error}") from None


def describe(sweep: str, output_dir: str, script: str, output_given: bool = False, family: str = "clip") -> str:
    """What `python -m har_finetune.campaign` prints: the task count, the commands, each task's overrides; every
    task checked first (check_tasks)."""
    tasks = sweep_tasks(read_sweep(sweep), output_dir)
    check_tasks(sweep, output_dir, family, len(tasks))
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
    script = f"fine_tune_har_{args.family}.py"
    print(describe(args.sweep, output_dir, script, args.output_dir is not None, args.family))
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
