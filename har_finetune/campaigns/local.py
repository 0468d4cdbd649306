"""The campaign without Slurm: every task in this process, one after the other, then the report.

    python -m har_finetune.campaign run --models clip siglip --seeds 3 --output_dir outputs/har --dataset data/har
    python -m har_finetune.campaign run --models clip --sweep recipes/sweep_lr_decay.yaml --output_dir outputs/lr ...

Each task is the training job exactly as a Slurm array task runs it (`--task_index N` is what SLURM_ARRAY_TASK_ID
gives there: the same seed, folder, split and predictions); one process saves the ~8 s of imports per task. A task
that fails is recorded (exit code, error line) and the next one starts; the report lists it.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from har_finetune.campaigns.plan import ModelTask, Plan, begin, update_record
from har_finetune.core.errors import UserError

logger = logging.getLogger("har_finetune")


def run_task(plan: Plan, task: ModelTask) -> dict:
    """Train one task in this process; its outcome: {"exit_code", "error"}."""
    from har_finetune.training.job import main as train_main  # the training stack: only when training

    try:
        code = train_main(plan.task_argv(task), family=task.model.family)
        error = None if code == 0 else f"training exited with {code}"
    except UserError as e:
        code, error = e.exit_code, "error: " + " ".join(str(e).split())
    except Exception as e:  # one broken task must not stop the others: record it, keep the traceback in the log
        logger.error("task %s failed:\n%s", task.label, traceback.format_exc())
        code, error = 1, f"{type(e).__name__}: {' '.join(str(e).split())}"
    return {"exit_code": code, "error": error}


def run_campaign(plan: Plan) -> dict[str, dict]:
    """Train every task (a finished run folder is kept, as on Slurm); returns the outcome per task label."""
    plan = begin(plan, slurm=None, outcomes={})
    outcomes = {}
    for task in plan.tasks():
        print(f"=== {task.label} -> {task.run_dir}", flush=True)
        try:
            outcomes[task.label] = run_task(plan, task)
        except KeyboardInterrupt:  # Ctrl-C: say what the same command does next (core/cli.py prints it)
            raise KeyboardInterrupt(what_resumes(plan, task)) from None
        if outcomes[task.label]["error"]:
            print(f"=== {task.label} failed: {outcomes[task.label]['error']}", flush=True)
        update_record(plan.output_dir, outcomes=outcomes)
    return outcomes


def what_resumes(plan: Plan, interrupted: ModelTask) -> str:
    """After Ctrl-C during `interrupted`: the same command skips the finished tasks and resumes this one."""
    from har_finetune.run_folder.checkpoints import latest_complete_checkpoint, run_is_finished

    tasks = plan.tasks()
    finished = sum(run_is_finished(task.run_dir) for task in tasks)
    checkpoint = latest_complete_checkpoint(interrupted.run_dir, warn_skipped=False)
    where = f"from {Path(checkpoint).name}, its newest checkpoint" if checkpoint else "from the start (no checkpoint)"
    return (
        f"the same command resumes the campaign in {plan.output_dir}: finished tasks are skipped ({finished} of "
        f"{len(tasks)}), {interrupted.label} resumes {where}"
    )
