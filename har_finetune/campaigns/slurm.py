"""The campaign under Slurm: one job array per model (index = task), then the report job that waits for them all.

    python -m har_finetune.campaign submit --models clip siglip --seeds 3 --output_dir outputs/har \
        --sbatch "--partition=gpu --account=me" --dataset data/har

Slurm does the waiting (`--dependency=afterany:<arrays>`: the report runs once every task has ended, failed or
not); nothing of ours stays alive. Task logs: `<output_dir>/logs/har-<name>-<array>_<seed>.out`, the report job's
`<output_dir>/logs/har-report-<job>.out`. Each array task is `fine_tune_har_<family>.slurm` with the model's flags; the
training parser turns its SLURM_ARRAY_TASK_ID into the task's seed or sweep settings and run folder (settings/tasks.py).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from har_finetune.campaigns.plan import Plan, begin, write_record
from har_finetune.core.errors import UserError
from har_finetune.settings.tasks import array_range

REPORT_SCRIPT = "scripts/campaign_report.slurm"


def sbatch(args: list[str]) -> str:
    """Submit from the current folder (the repository root: the batch scripts cd to SLURM_SUBMIT_DIR); the job id."""
    try:
        done = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError("sbatch not found: submit from a Slurm login node, or use `campaign run` here") from None
    if done.returncode != 0:
        raise UserError(f"sbatch {' '.join(args[:3])} ... refused: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def submit(plan: Plan, sbatch_options: str) -> tuple[Plan, dict]:
    """Submit the arrays and the report job; returns the plan as recorded and the Slurm part of its record."""
    for model in plan.models:
        if not Path(f"fine_tune_har_{model.family}.slurm").is_file():
            raise UserError(f"no fine_tune_har_{model.family}.slurm here: submit from the repository root")
    extra = shlex.split(sbatch_options)
    plan.log_dir.mkdir(parents=True, exist_ok=True)  # Slurm does not create the folder of --output
    plan = begin(plan, slurm={"submitted": False})  # the tasks may start before we write it again
    arrays: dict[str, str] = {}
    for model in plan.models:
        arrays[model.name] = _sbatch_after(
            arrays,
            [
                f"--array={array_range(plan.model_tasks(model))}",
                f"--job-name=har-{model.name}",
                f"--output={plan.log_dir}/har-{model.name}-%A_%a.out",  # not %x: --sbatch may rename the job
                *extra,
                f"fine_tune_har_{model.family}.slurm",
                *plan.model_argv(model),
            ],
        )
    write_record(plan, slurm={"arrays": arrays, "report": None, "log_dir": str(plan.log_dir)})
    report = _sbatch_after(
        arrays,
        [
            f"--dependency=afterany:{':'.join(arrays.values())}",
            "--job-name=har-report",
            f"--output={plan.log_dir}/har-report-%j.out",
            *extra,
            REPORT_SCRIPT,
            str(plan.output_dir),
        ],
    )
    slurm = {"arrays": arrays, "report": report, "log_dir": str(plan.log_dir)}
    write_record(plan, slurm=slurm)
    return plan, slurm


def _sbatch_after(submitted: dict[str, str], args: list[str]) -> str:
    """sbatch; a refusal names the arrays already submitted (they run without a report job: cancel or keep them)."""
    try:
        return sbatch(args)
    except UserError as e:
        if not submitted:
            raise
        jobs = " ".join(submitted.values())
        raise UserError(
            f"{e}; already submitted: {jobs} (scancel {jobs}, or run the report later with "
            "python -m har_finetune.campaign report OUTPUT_DIR)"
        ) from None


def task_log(slurm: dict, name: str, index: int) -> Path | None:
    array = slurm.get("arrays", {}).get(name)
    return Path(slurm["log_dir"]) / f"har-{name}-{array}_{index}.out" if array else None


def _expand(indices: str) -> list[int]:
    """`1-3,5%2` -> [1, 2, 3, 5] (the pending part of an array as scontrol shows it)."""
    out = []
    for part in indices.split("%")[0].split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            out += range(int(low), int(high or low) + 1) if (high or low).isdigit() else [int(low)]
    return out


def array_states(array_ids: list[str]) -> dict[tuple[str, int], dict]:
    """(array job id, index) -> {"state", "restarts", "reason"} from scontrol (jobs Slurm still remembers), then
    sacct for the others where accounting is on; empty without Slurm."""
    states: dict[tuple[str, int], dict] = {}
    if not array_ids or not shutil.which("scontrol"):
        return states
    for array in array_ids:
        done = subprocess.run(["scontrol", "show", "job", "--oneliner", array], capture_output=True, text=True)
        for line in done.stdout.splitlines() if done.returncode == 0 else []:
            info = dict(re.findall(r"(\w+)=(\S*)", line))
            for index in _expand(info.get("ArrayTaskId", "")):
                states[(array, index)] = {
                    "state": info.get("JobState", "?"),
                    "restarts": int(info.get("Restarts", "0") or 0),
                    "reason": info.get("Reason", "None"),
                }
    missing = [a for a in array_ids if not any(key[0] == a for key in states)]
    if missing and shutil.which("sacct"):
        done = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(missing)], capture_output=True, text=True
        )
        for line in done.stdout.splitlines() if done.returncode == 0 else []:
            job, _, state = line.partition("|")
            array, _, index = job.partition("_")
            if index.isdigit():
                states[(array, int(index))] = {"state": state.split()[0], "restarts": 0, "reason": "None"}
    return states


def report_state(job_id: str | None) -> str | None:
    if not job_id or not shutil.which("scontrol"):
        return None
    done = subprocess.run(["scontrol", "show", "job", "--oneliner", job_id], capture_output=True, text=True)
    found = re.search(r"JobState=(\S+)", done.stdout)
    return found.group(1) if found else None
