"""The campaign command: one parser for every subcommand (`python -m har_finetune.campaign --help` lists them).

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har [--sbatch "..."] \
        [training flags ...]
    python -m har_finetune.campaign run --models clip --sweep recipes/sweep_lr_decay.yaml --output_dir outputs/lr ...
    python -m har_finetune.campaign status outputs/har
    python -m har_finetune.campaign report outputs/har     # what the report job runs
    python -m har_finetune.campaign tasks --sweep recipes/sweep_lr_decay.yaml   # (or: campaign --sweep FILE)

`run` exits 3 when a task failed (after the report, which lists it); the others exit 0, or 2 (bad flags, no
campaign in the folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from har_finetune.campaigns.plan import add_plan_flags, plan_from
from har_finetune.core.defaults import SCRIPT_FAMILIES
from har_finetune.core.errors import RUN_FAILED_EXIT_CODE, UserError
from har_finetune.run_folder.files import REPORT
from har_finetune.settings.tasks import array_range, campaign_tasks

EPILOG = """\
examples:
  python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har --dataset data/har
  python -m har_finetune.campaign run --models clip --sweep recipes/sweep_lr_decay.yaml --output_dir outputs/lr
  python -m har_finetune.campaign status outputs/har
  python -m har_finetune.campaign tasks --sweep recipes/sweep_lr_decay.yaml     (short form: campaign --sweep FILE)

A campaign task is an ordinary training run: the training parser turns its index (the Slurm array index, or
--task_index) into its seed or sweep settings and its run folder (har_finetune/settings/tasks.py), so it resumes,
and a finished task is not trained again. Each subcommand has its --help.
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m har_finetune.campaign",
        description="Several seeds, or a grid of settings, trained as one campaign and reported together.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="{submit,run,status,report,tasks}")
    submit = sub.add_parser("submit", allow_abbrev=False, help="one Slurm job array per model, then the report job")
    add_plan_flags(submit)
    submit.add_argument("--sbatch", default="", metavar="OPTIONS", help='sbatch options for every job, e.g. "-p gpu"')
    run = sub.add_parser("run", allow_abbrev=False, help="the same on this machine, task after task, then the report")
    add_plan_flags(run)
    for name, text in (("status", "one line per task"), ("report", "write <output_dir>/report/ (the report job)")):
        sub.add_parser(name, help=text).add_argument("output_dir", type=Path, help="the campaign's --output_dir")
    tasks = sub.add_parser(
        "tasks", help="list a sweep's tasks for sbatch --array by hand: the range, what each runs (every task checked)"
    )
    tasks.add_argument("--sweep", required=True, help="YAML mapping of flag names to lists of values")
    tasks.add_argument("--family", choices=SCRIPT_FAMILIES, default="clip", help="the training script used")
    tasks.add_argument("--output_dir", help="the campaign folder (default outputs/<family>, as the script's)")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser().print_help(sys.stderr)
        return 2
    if argv[0].startswith("--") and "--sweep" in (a.split("=")[0] for a in argv):  # short: campaign --sweep FILE
        argv = ["tasks", *argv]
    args, training_flags = parser().parse_known_args(argv)
    if args.command not in ("submit", "run") and training_flags:
        parser().error(f"unrecognized arguments: {' '.join(training_flags)}")
    if args.command == "status":
        from har_finetune.campaigns.status import status_lines

        print("\n".join(status_lines(args.output_dir)))
        return 0
    if args.command == "report":
        from har_finetune.campaigns.report import write_report

        return write_report(args.output_dir)
    if args.command == "tasks":
        print(list_sweep_tasks(args.sweep, args.family, args.output_dir))
        return 0
    from har_finetune.campaigns.checks import check_tasks

    plan = plan_from(args, training_flags)
    check_tasks(plan, here=args.command == "run")
    if args.command == "submit":
        return submit(plan, args.sbatch)
    return run(plan)


def list_sweep_tasks(sweep: str, family: str, output_dir: str | None) -> str:
    """What `campaign tasks --sweep FILE` prints: the task count, the commands, each task's overrides and folder;
    every task checked first, as its training will parse it."""
    from har_finetune.campaigns.checks import check_task_settings

    folder = output_dir or f"outputs/{family}"
    tasks = campaign_tasks(folder, sweep)
    for task in tasks:
        try:
            check_task_settings(["--sweep", sweep, "--task_index", str(task.index), "--output_dir", folder], family)
        except UserError as error:
            raise UserError(f"--sweep {sweep} task {task.index}: {error}") from None
    script = f"fine_tune_har_{family}.py"
    flags = f"--sweep {sweep}" + (f" --output_dir {output_dir}" if output_dir else "")
    last = tasks[-1].index
    lines = [
        f"{sweep}: {len(tasks)} tasks ({array_range(tasks)})",
        f"  Slurm:   sbatch --array={array_range(tasks)} -o 'logs/%x-%A_%a.out' {Path(script).with_suffix('.slurm')} "
        f"{flags} [flags]",
        f"  locally: for i in $(seq 0 {last}); do python {script} {flags} --task_index $i [flags]; done",
        "",
    ]
    for task in tasks:
        lines.append(
            f"task {task.index}: {' '.join(task.override_flags()) or '(the command as given)'} -> {task.output_dir}"
        )
    return "\n".join(lines)


def submit(plan, sbatch_options: str) -> int:
    from har_finetune.campaigns.slurm import submit as submit_jobs

    plan, jobs = submit_jobs(plan, sbatch_options)
    for model in plan.models:
        tasks = plan.model_tasks(model)
        names = tasks[0].name + (f" ... {tasks[-1].name}" if len(tasks) > 1 else "")
        print(f"job array {jobs['arrays'][model.name]}: {model.name}, tasks {array_range(tasks)} -> "
              f"{plan.model_dir(model)}/ {names}")  # fmt: skip
    print(f"report job {jobs['report']}: runs when every task has ended -> {plan.report_dir / REPORT}")
    print(f"logs: {plan.log_dir}/")
    print(f"progress: python -m har_finetune.campaign status {plan.output_dir}")
    return 0


def run(plan) -> int:
    from har_finetune.campaigns.local import run_campaign
    from har_finetune.campaigns.report import write_report
    from har_finetune.campaigns.status import status_lines

    outcomes = run_campaign(plan)
    write_report(plan.output_dir)
    print("\n".join(status_lines(plan.output_dir)), flush=True)
    return RUN_FAILED_EXIT_CODE if any(o["exit_code"] for o in outcomes.values()) else 0
