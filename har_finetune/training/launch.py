"""`torchrun` (same flags, same code) with the two changes a preemptible Slurm job needs.

    python -m har_finetune.training.launch --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d \\
        --rdzv_endpoint=node01:29500 --rdzv_id=$SLURM_JOB_ID fine_tune_har_clip.py [flags]

1. The launcher ignores SIGUSR1. Slurm delivers a forwarded signal to every process of the job step; plain torchrun
   would die of SIGUSR1 (the default action) and take the training processes with it, while here only the
   training processes react (`preemption.PreemptionCallback`: checkpoint, stop). They inherit the "ignore" until
   that callback installs its handler.
2. When the training processes stop for preemption (exit code `PREEMPTED_EXIT_CODE`), the launcher exits with
   that code instead of torchrun's generic 1 and its traceback, so the batch script can tell "checkpointed, requeue
   me" from a crash. A SIGTERM to the launcher itself (Slurm signals every process of the job) ends it with one
   line instead of a traceback, after torchrun has passed the signal on and waited for the training processes.
"""

import signal
import sys


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # before the imports: they take seconds
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from har_finetune.training.preemption import PREEMPTED_EXIT_CODE

    try:
        run(parse_args(argv))
    except SignalException as error:  # SIGTERM (preemption, requeue, scancel): torchrun passed it on and waited
        print(f"launcher stopped by {signal.Signals(error.sigval).name}", flush=True)
        return 128 + error.sigval
    except ChildFailedError as error:
        _, first_failure = error.get_first_failure()  # the others may be killed by torchrun afterwards
        if first_failure.exitcode == PREEMPTED_EXIT_CODE:
            print(f"training processes stopped for preemption (exit code {PREEMPTED_EXIT_CODE})", flush=True)
            return PREEMPTED_EXIT_CODE
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
