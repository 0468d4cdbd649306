"""Stop cleanly when Slurm asks: checkpoint at the next optimizer step, then exit with `PREEMPTED_EXIT_CODE`.

Slurm warns a job before its time limit with the `--signal` of the batch script (our sbatch scripts forward SIGUSR1
to the training processes) and sends SIGTERM on preemption, `scontrol requeue` or `scancel`, followed by SIGKILL
after `KillWait`/`GraceTime` (30 s by default). On either signal `PreemptionCallback` makes Trainer save a
checkpoint at the end of the current step and stop; `training.job.fit` then returns `PREEMPTED_EXIT_CODE` instead of
writing `all_results.json`, so the run is not mistaken for a finished one and the requeued job resumes from that
checkpoint (see `checkpoints.latest_complete_checkpoint`).

Under DDP the ranks may receive the signal a few milliseconds apart; the flag is all-reduced (max) at every step end,
so all ranks stop at the same step and take part in the same save. Under `har_finetune.training.launch` (our torchrun)
the training processes start with SIGUSR1 ignored, until this callback installs its handler.
"""

import logging
import signal
import threading

import torch
import torch.distributed as dist
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

logger = logging.getLogger(__name__)

PREEMPTED_EXIT_CODE = 124  # "stopped early, checkpoint saved, resubmit me"; the same code GNU `timeout` uses
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)


class PreemptionCallback(TrainerCallback):
    """Turns SIGUSR1/SIGTERM into "save a checkpoint and stop training" at the next step end.

    Create it in the main thread before `trainer.train()`: the signal handlers are installed by the constructor, so a
    signal that arrives while data and model are still loading also stops training after its first step. After
    `train()` returns, `preempted` tells whether training stopped early for a signal.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS):
        self.received: signal.Signals | None = None  # the signal this process got, if any
        self.stopped_at_step: int | None = None  # global step of the preemption checkpoint
        self._stop_mid_epoch = False
        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                signal.signal(sig, self._handle)

    @property
    def preempted(self) -> bool:
        return self.stopped_at_step is not None

    def _handle(self, signum: int, frame) -> None:
        # no printing here: the handler may interrupt a print on the same stream
        self.received = signal.Signals(signum)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if self.preempted or not any_rank(self.received is not None, args.device):
            return control
        if state.global_step >= state.max_steps:
            return control  # that was the last step anyway: let the run finish normally
        self.stopped_at_step = state.global_step
        self._stop_mid_epoch = not float(state.epoch).is_integer()
        control.should_training_stop = True
        # at an epoch end the epoch's own evaluation and save follow (on_epoch_end); mid-epoch we save right here
        control.should_save = control.should_save or self._stop_mid_epoch
        if state.is_world_process_zero:
            name = self.received.name if self.received else "a signal on another rank"
            logger.warning("Received %s: saving checkpoint-%d and stopping for a requeue", name, state.global_step)
        return control

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if not self.preempted:
            return control
        if self._stop_mid_epoch:
            # Trainer runs the epoch-end log/eval/save after breaking out of the epoch; mid-epoch it would evaluate
            # a fraction of an epoch and rewrite the checkpoint just saved, so an interrupted run's history would
            # differ from an uninterrupted one's
            control.should_log = control.should_evaluate = control.should_save = False
        else:
            control.should_save = True  # this epoch's evaluation goes into the checkpoint we resume from
        return control


def any_rank(flag: bool, device: torch.device) -> bool:
    """True if `flag` is set on any rank (a collective: every rank must call it at the same point)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    tensor = torch.tensor([int(flag)], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def wait_for_all_ranks() -> None:
    """Barrier before a preempted process exits: under torchrun the first rank to exit non-zero makes the agent kill
    the others, which must not happen while rank 0 is still writing the checkpoint."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def end_process_group(finished: bool) -> None:
    """Every rank, at the end of the job: wait for the others (when the job `finished` its work on every rank, so
    that rank 0, which hosts the rendezvous store, is not gone while the others still need it), then destroy the
    process group, which stops and joins the communication library's background threads. Left to interpreter exit,
    those threads raced the C++ runtime's teardown: rank 0 of a finished two-node job once died with "terminate
    called without an active exception" (SIGABRT) after writing its results, and the job counted as failed."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()
