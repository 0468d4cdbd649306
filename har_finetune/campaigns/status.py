"""Where each task of a campaign stands, from its run folder, its log and (where Slurm answers) the queue.

python -m har_finetune.campaign status outputs/har      # one line per task; exit 0 (2: no campaign there)

clip/seed-1     finished  test accuracy 84.21%
clip/seed-2     running   epoch 1.6 (requeued 1 time)
siglip/seed-1   queued    (Priority)
siglip/seed-2   failed    error: --output_dir ... holds files that are not a run of this tool; ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from har_finetune.campaigns import slurm
from har_finetune.campaigns.plan import ModelTask, Plan, load_campaign
from har_finetune.run_folder.files import REPORT
from har_finetune.run_folder.reader import RunFolderError, RunRecord

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "CONFIGURING"}
ERROR_LINE = re.compile(r"(?i)\b\w*error\b|traceback|killed|cancelled")


@dataclass(frozen=True)
class TaskState:
    task: ModelTask
    state: str  # finished | running | queued | failed | not started | unfinished
    detail: str = ""
    accuracy: float | None = None

    def line(self, width: int) -> str:
        return f"{self.task.label:{width}s}  {self.state:11s} {self.detail}".rstrip()


def last_error_line(log: Path | None) -> str | None:
    if log is None or not log.is_file():
        return None
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    ours = [line for line in lines if line.startswith("error:")]  # our one-line errors, before any launcher noise
    other = [line for line in lines if ERROR_LINE.search(line)]
    return (ours or other or [None])[-1]


def log_epoch(log: Path | None) -> float | None:
    if log is None or not log.is_file():
        return None
    epochs = re.findall(r"'epoch': ([0-9.]+)", log.read_text(errors="replace"))
    return float(epochs[-1]) if epochs else None


def log_restarts(log: Path | None) -> int:
    """The restart count scripts/slurm_job.sh logs (`job 12_3 (restart 2): ...`), when Slurm no longer knows."""
    if log is None or not log.is_file():
        return 0
    return max(map(int, re.findall(r"\(restart (\d+)\)", log.read_text(errors="replace"))), default=0)


@dataclass(frozen=True)
class Progress:
    """What a task's run folder says: whether training began (run_config.json), how far it got, its accuracy."""

    started: bool = False
    epoch: float = 0.0
    accuracy: float | None = None

    @classmethod
    def read(cls, run_dir: Path, record: RunRecord | None = None) -> Progress:
        """`record`: the folder's record when the caller read it already (the report reads each run once)."""
        try:
            record = record or RunRecord.load(run_dir)
        except RunFolderError:  # no run there (yet)
            return cls()
        return cls(
            _or_none(lambda: bool(record.config)) or False,
            record.checkpoint_epoch,
            _or_none(lambda: float(record.results["test_accuracy"])),
        )


def _or_none(read):
    """A value read from a run folder, or None where its file is missing or unreadable."""
    try:
        return read()
    except (RunFolderError, OSError, KeyError, ValueError, TypeError):
        return None


def _requeued(restarts: int) -> str:
    return f" (requeued {restarts} time{'s' if restarts != 1 else ''})" if restarts else ""


def task_state(
    task: ModelTask, queue: dict | None, log: Path | None, outcome: dict | None, progress: Progress
) -> TaskState:
    """`queue`: Slurm's view of the task ({"state", "restarts", "reason"}) or None; `outcome`: what `campaign run`
    recorded for it (exit code, error line) or None; `progress`: what its run folder says."""
    restarts = queue["restarts"] if queue else log_restarts(log)
    if progress.accuracy is not None:
        accuracy = progress.accuracy
        return TaskState(task, "finished", f"test accuracy {100 * accuracy:.2f}%{_requeued(restarts)}", accuracy)
    if queue and queue["state"] in QUEUED:
        reason = f" ({queue['reason']})" if queue["reason"] not in ("None", "") else ""
        return TaskState(task, "queued", f"{reason.strip()}{_requeued(restarts)}".strip())
    epoch = log_epoch(log)
    if epoch is None:
        epoch = progress.epoch
    if queue and queue["state"] not in ENDED:
        return TaskState(task, "running", f"epoch {epoch:g}{_requeued(restarts)}")
    if (queue and queue["state"] in ENDED) or (outcome and outcome.get("exit_code")):
        error = (outcome or {}).get("error") or last_error_line(log) or f"Slurm state {(queue or {}).get('state')}"
        return TaskState(task, "failed", error)
    if outcome is None and not progress.started:
        return TaskState(task, "not started")
    return TaskState(task, "unfinished", f"epoch {epoch:g}, no results yet")


def campaign_states(plan: Plan, record: dict, runs: dict[Path, RunRecord] | None = None) -> list[TaskState]:
    """Each task's state; `runs`: the records of run folders already read, by resolved folder (the report's)."""
    runs = runs or {}
    submitted = record.get("slurm") or {}
    arrays = submitted.get("arrays", {})
    queue = slurm.array_states(list(arrays.values()))
    outcomes = record.get("outcomes", {})
    states = []
    for task in plan.tasks():
        array = arrays.get(task.model.name)
        log = slurm.task_log(submitted, task.model.name, task.index) if array else None
        progress = Progress.read(task.run_dir, runs.get(task.run_dir.resolve()))
        states.append(task_state(task, queue.get((array, task.index)), log, outcomes.get(task.label), progress))
    return states


def task_count(n: int) -> str:
    return f"{n} task{'' if n == 1 else 's'}"


def status_lines(output_dir: Path) -> list[str]:
    plan, record = load_campaign(output_dir)
    states = campaign_states(plan, record)
    width = max(len(s.task.label) for s in states)
    lines = [s.line(width) for s in states]
    counts = {name: sum(s.state == name for s in states) for name in dict.fromkeys(s.state for s in states)}
    lines.append(f"{task_count(len(states))}: " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    report_job = (record.get("slurm") or {}).get("report")
    report = plan.report_dir / REPORT
    if report.is_file():
        lines.append(f"report: {report}")
    elif report_job:
        lines.append(f"report: job {report_job} ({slurm.report_state(report_job) or 'unknown to Slurm'}) -> {report}")
    return lines
