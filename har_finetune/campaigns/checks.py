"""Every task of a campaign parsed and checked as its training will parse it, before anything is submitted or run.

The task's own command line (the model's flags and `--task_index N`, what SLURM_ARRAY_TASK_ID=N gives an array task)
goes through the training parser (settings/parser.py) and the data-free checks, so a misspelled flag, a bad value in
task 7 of a sweep or a transformers 4 name is one line now, not N failed jobs.
"""

from __future__ import annotations

from har_finetune.campaigns.plan import Plan
from har_finetune.core.errors import UserError
from har_finetune.settings.spec import RunSpec

NOT_CHECKED_HERE = "invalid settings (TrainingArguments)"  # what a login node without the compute nodes' GPU may say


def check_task_settings(argv: list[str], family: str) -> RunSpec:
    """One task's flags, parsed as fine_tune_har_<family>.py parses them, and its settings checked; no folder read."""
    from har_finetune.settings.checks import check_settings
    from har_finetune.settings.parser import parse_flags

    spec = parse_flags(argv, family, env={})
    check_settings(spec)
    return spec


def check_task_paths(spec: RunSpec) -> None:
    """What the task's training would refuse before any data work, as it refuses it: a local-looking model path or
    a dataset folder that does not exist (a Hub id is looked up by the task; a finished task reads neither)."""
    from har_finetune.core.local_paths import model_path_problem
    from har_finetune.data.sources import check_dataset_path
    from har_finetune.run_folder.checkpoints import run_is_finished

    if run_is_finished(spec.run_dir):
        return
    problem = model_path_problem(spec.model.model_name_or_path)
    if problem:
        raise UserError(problem)
    check_dataset_path(spec.data.dataset)


def check_tasks(plan: Plan, here: bool) -> None:
    """Every task's settings; for `run` (`here`) each model's first task also with its folder and this machine's
    surroundings (parse_run: the pixel cache, --report_to, a GPU for --bf16).

    For `submit` this login node may lack what the compute nodes have (a GPU for --bf16): TrainingArguments' own
    refusals are a note, and each job checks everything before it starts (scripts/slurm_job.sh)."""
    from har_finetune.settings.parser import parse_run

    notes, checked_here = set(), set()
    for task in plan.tasks():
        argv = plan.task_argv(task)
        try:
            check_task_paths(check_task_settings(argv, task.model.family))
            if here and task.model not in checked_here:
                parse_run(argv, task.model.family)
                checked_here.add(task.model)
        except UserError as e:
            if here or not str(e).startswith(NOT_CHECKED_HERE):
                raise UserError(f"{task.label}: {e}") from None
            notes.add(" ".join(str(e).split()))
    for note in sorted(notes):
        print(f"note: not checked on this node, the jobs check it on theirs: {note}")
