"""What this process may use of the machine it runs on."""

import os


def available_cpus() -> int:
    """The CPUs this process may use (a Slurm allocation, taskset), not the machine's; macOS has no affinity call."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
