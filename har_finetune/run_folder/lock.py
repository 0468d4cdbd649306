"""One process trains into a run folder at a time: an exclusive lock held for the whole run by global rank 0.

`filelock.FileLock` is `fcntl.flock` on `.run.lock`: the kernel releases it when the holder dies (SIGKILL, OOM
killer, node reboot), so a lock left by a dead process never blocks the next run. Shared filesystems:
- NFS: Linux emulates flock with POSIX byte-range locks, which the server arbitrates across nodes; if the
  holder's node dies, the server frees the lock when the client's lease expires (NFSv4: ~90 s by default).
- Lustre: cluster-wide only when mounted with `-o flock`; with `-o localflock` only processes on the same node
  exclude each other; with neither, flock fails and filelock falls back to a marker file naming host and pid,
  which it breaks when that pid is dead on the same host (a marker from another, dead node must be removed by
  hand: the error names the holder).
Who holds the lock (host, pid, Slurm job, start time) is written next to it, for the message a second process
prints. A requeued Slurm job (same job id) waits up to `REQUEUE_WAIT_S` for its previous incarnation's lock.
"""

import logging
import os
import socket
import time
from pathlib import Path

import filelock

from har_finetune.core.errors import UserError
from har_finetune.run_folder.files import LOCK, LOCK_HOLDER, read_json_or_none, write_json

logger = logging.getLogger(__name__)
REQUEUE_WAIT_S = 120.0


def slurm_job() -> str | None:
    """This process's Slurm job as squeue shows it (`123` or, for an array task, `120_3`)."""
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


class RunLock:
    """`with RunLock(run_dir): ...` holds the run folder's lock, or raises a one-line `UserError` naming the holder.

    The folder is created if needed; when this process created it and leaves nothing but the lock behind (it
    stopped before writing anything), the folder is removed again.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._lock: filelock.BaseFileLock | None = None
        self._created = False

    def __enter__(self) -> "RunLock":
        self._created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = filelock.FileLock(self.run_dir / LOCK, is_singleton=False)
        holder = read_json_or_none(self.run_dir / LOCK_HOLDER) or {}
        wait = REQUEUE_WAIT_S if holder.get("slurm_job") and holder.get("slurm_job") == slurm_job() else 0
        try:
            self._lock.acquire(timeout=wait)
        except filelock.Timeout:
            holder = read_json_or_none(self.run_dir / LOCK_HOLDER) or {}
            self._remove_if_created()
            raise UserError(busy_message(self.run_dir, holder)) from None
        write_json(self.run_dir / LOCK_HOLDER, holder_record())
        return self

    def __exit__(self, *exc) -> None:
        (self.run_dir / LOCK_HOLDER).unlink(missing_ok=True)
        self._lock.release()
        self._remove_if_created()

    def _remove_if_created(self) -> None:
        if self._created and {p.name for p in self.run_dir.iterdir()} <= {LOCK, LOCK_HOLDER}:
            (self.run_dir / LOCK).unlink(missing_ok=True)
            self.run_dir.rmdir()


def holder_record() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job": slurm_job(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def busy_message(run_dir: Path, holder: dict) -> str:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    if holder.get("slurm_job"):
        who += f", Slurm job {holder['slurm_job']}"
    if holder.get("since"):
        who += f", since {holder['since']}"
    return (
        f"--output_dir {run_dir} is in use by another training process ({who}); wait for it to finish (or stop it), "
        "or choose another --output_dir"
    )
