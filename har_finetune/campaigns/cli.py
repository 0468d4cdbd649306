"""The campaign subcommands: submit (Slurm), run (this machine), status, report.

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har [--sbatch "..."] \
        [training flags ...]
    python -m har_finetune.campaign run --models clip siglip --seeds 3 --output_dir outputs/har [training flags ...]
    python -m har_finetune.campaign status outputs/har
    python -m har_finetune.campaign report outputs/har     # what the report job runs

`run` exits 3 when a task failed (after the report, which lists it); the others exit 0 or 2 (bad flags).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from har_finetune.campaigns.plan import add_plan_flags, plan_from
from har_finetune.core.errors import RUN_FAILED_EXIT_CODE
from har_finetune.run_folder.files import REPORT

SUBCOMMANDS = ("submit", "run", "status", "report")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m har_finetune.campaign",
        description="A campaign from one command to the report; the flags not listed here go to every training task.",
    )
    sub = top.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", allow_abbrev=False, help="one Slurm job array per model, then the report job")
    add_plan_flags(submit)
    submit.add_argument("--sbatch", default="", metavar="OPTIONS", help='sbatch options for every job, e.g. "-p gpu"')
    run = sub.add_parser("run", allow_abbrev=False, help="the same on this machine, task after task, then the report")
    add_plan_flags(run)
    for name, text in (("status", "one line per task"), ("report", "write <output_dir>/report/ (the report job)")):
        sub.add_parser(name, help=text).add_argument("output_dir", type=Path, help="the campaign's --output_dir")
    return top


def main(argv: list[str]) -> int:
    args, training_flags = parser().parse_known_args(argv)
    if args.command in ("status", "report") and training_flags:
        parser().error(f"unrecognized arguments: {' '.join(training_flags)}")
    if args.command == "status":
        from har_finetune.campaigns.status import status_lines

        print("\n".join(status_lines(args.output_dir)))
        return 0
    if args.command == "report":
        from har_finetune.campaigns.report import write_report

        return write_report(args.output_dir)
    plan = plan_from(args, training_flags)
    check_flags(plan, here=args.command == "run")
    if args.command == "submit":
        return submit(plan, args.sbatch)
    return run(plan)


def check_flags(plan, here: bool) -> None:
    """Each model's first task parsed as training will parse it: a bad flag is one line now, not N failed jobs.

    For `submit` (`here` False) the flags alone: this login node may lack what the compute nodes have (a GPU for
    --bf16, the pixel cache folder); each job checks the rest before it starts (scripts/slurm_job.sh)."""
    from har_finetune.core.errors import UserError
    from har_finetune.settings.parser import parse_flags, parse_run

    for model in plan.models:
        argv = [*plan.model_argv(model), "--task_index", "1"]
        try:
            parse_run(argv, model.family) if here else parse_flags(argv, model.family)
        except UserError as e:
            if here or not str(e).startswith("invalid settings (TrainingArguments)"):
                raise
            print(f"note: not checked on this node, the jobs check it on theirs: {' '.join(str(e).split())}")


def submit(plan, sbatch_options: str) -> int:
    from har_finetune.campaigns.slurm import submit as submit_jobs

    jobs = submit_jobs(plan, sbatch_options)
    for name, array in jobs["arrays"].items():
        print(f"job array {array}: {name}, seeds 1-{plan.seeds} -> {plan.output_dir / name}/seed-<N>")
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
