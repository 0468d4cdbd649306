"""Campaigns: several seeds, or a grid of settings, trained as job arrays (or here, task after task) to one report.

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har --dataset data/har
    python -m har_finetune.campaign run --models clip --sweep recipes/sweep_lr_decay.yaml --output_dir outputs/lr ...
    python -m har_finetune.campaign status outputs/har        # one line per task
    python -m har_finetune.campaign report outputs/har        # what the report job runs
    python -m har_finetune.campaign tasks --sweep recipes/sweep_lr_decay.yaml   # a sweep's tasks, for sbatch --array
    python -m har_finetune.campaign --help                    # every subcommand

The command lives in har_finetune/campaigns/ (cli.py: the one parser); this module is its entry point
(`har-campaign` runs it too). What one task trains comes from settings/tasks.py, when its training parses the flags:

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

from har_finetune.campaigns.cli import main
from har_finetune.core.cli import run_cli


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
