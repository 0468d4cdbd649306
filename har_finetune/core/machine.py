"""What this process may use of the machine it runs on."""

import os

MAX_WORKERS = 16  # beyond this the image pools wait on the disk, not on the CPUs


def available_cpus() -> int:
    """The CPUs this process may use (a Slurm allocation, taskset), not the machine's; macOS has no affinity call."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count() -> int:
    """Processes for a pool of CPU-bound image work (decoding, checksums): one per CPU we may use, 1 to 16."""
    return max(1, min(available_cpus(), MAX_WORKERS))
