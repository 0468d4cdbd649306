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
        outcomes[task.label] = run_task(plan, task)
        if outcomes[task.label]["error"]:
            print(f"=== {task.label} failed: {outcomes[task.label]['error']}", flush=True)
        update_record(plan.output_dir, outcomes=outcomes)
    return outcomes
