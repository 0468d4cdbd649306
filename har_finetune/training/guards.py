"""Faults during a run: stop with one clear line, keep the last good checkpoint, never save a broken model as final.

- `NonFiniteGuard` (a TrainerCallback): a NaN/inf training loss, non-finite weights before a save, or a
  non-finite validation loss stop training before anything more is saved; `train.main` then raises `RunFailed`
  naming the step. Trainer alone carries on: `logging_nan_inf_filter` only hides the values in the logs, and
  with fp16 the gradient scaler skips updates while the steps still count.
- `explain_faults`: out of memory (with the batch size that failed and what to try) and a full disk (the
  half-written checkpoint is removed, the previous one stays) become `RunFailed` errors.
"""

import errno
import logging
import math
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from accelerate.utils.memory import should_reduce_batch_size
from transformers import Trainer, TrainerCallback

from har_finetune.core.errors import RunFailed
from har_finetune.run_folder.checkpoints import latest_complete_checkpoint, remove_incomplete_checkpoints
from har_finetune.training.preemption import any_rank

logger = logging.getLogger(__name__)

DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# safetensors and torch.save report a full disk as their own errors, not as OSError(ENOSPC)
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "StorageFull", "file write failed")


class NonFiniteGuard(TrainerCallback):
    """Stops training at the first non-finite loss or weight; `failure` then holds the message.

    A forward hook keeps every training loss on the device, so the only synchronisation is one `.item()` per
    optimizer step (Trainer's own NaN filter already syncs as often). Weights are checked before each save and
    at the end, because a step can blow them up while its loss is still finite. Put it last in `callbacks`: it
    cancels the save and evaluation that other callbacks ask for at a failing step.
    """

    def __init__(self):
        self.failure: str | None = None
        self._losses: list[torch.Tensor] = []
        self._hook = None

    def on_init_end(self, args, state, control, model=None, **kwargs):
        # before Trainer wraps or compiles the model, so that the hook is part of what runs
        if model is not None and self._hook is None:
            self._hook = model.register_forward_hook(self._record)

    on_train_begin = on_init_end  # when added with trainer.add_callback after construction

    def _record(self, module, inputs, outputs) -> None:
        if module.training and (value := _loss_or_logits(outputs)) is not None:
            self._losses.append(value.detach().float().reshape(-1))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        losses, self._losses = self._losses, []
        values = torch.cat(losses) if losses else torch.zeros(1)
        if any_rank(not bool(torch.isfinite(values).all()), args.device):
            bad = values[~torch.isfinite(values)]
            value = bad[0].item() if len(bad) else math.nan  # nan on this rank, or on another one
            self._fail(args, state, control, f"the training loss became {value} at step {state.global_step}")
        elif control.should_save:
            self._check_weights(args, state, control, model, f"before saving checkpoint-{state.global_step}")
        return control

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.failure:
            control.should_save = control.should_evaluate = False
        elif control.should_save:
            self._check_weights(args, state, control, model, f"before saving checkpoint-{state.global_step}")
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if self.failure is None and loss is not None and not math.isfinite(loss):
            self._fail(args, state, control, f"the validation loss became {loss} at step {state.global_step}")
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.failure is None:  # the model train.main is about to save as the result
            self._check_weights(args, state, control, model, "at the end of training")
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        return control

    def _check_weights(self, args, state, control, model, when: str) -> None:
        if model is not None and any_rank(
            not all(bool(torch.isfinite(p).all()) for p in model.parameters()), args.device
        ):
            self._fail(args, state, control, f"the model weights became NaN or infinite {when}")

    def _fail(self, args, state, control, what: str) -> None:
        control.should_training_stop = True
        control.should_save = control.should_evaluate = False
        last = latest_complete_checkpoint(args.output_dir)
        kept = f"{Path(last).name} is the last good checkpoint and stays" if last else "no checkpoint was saved yet"
        advice = f"a lower --learning_rate (was {args.learning_rate:g}) or more --warmup_steps"
        if args.fp16:
            advice += ", or --bf16 instead of --fp16"
        self.failure = (
            f"{what} (epoch {state.epoch or 0:.2f}): training stopped without saving this model; {kept}. "
            f"Try {advice}, in a new --output_dir (a resumed run keeps the old learning rate)"
        )
        if state.is_world_process_zero:
            logger.error(self.failure)


def _loss_or_logits(outputs) -> torch.Tensor | None:
    """The loss of a model output (the logits when the loss is computed outside the model, e.g. label smoothing)."""
    if isinstance(outputs, Mapping):
        value = outputs.get("loss")
        if value is None and outputs.get("logits") is not None:
            value = outputs["logits"].detach().float().abs().amax()  # NaN/inf propagate, a scalar is kept
        return value
    if isinstance(outputs, (tuple, list)) and outputs and torch.is_tensor(outputs[0]):
        return outputs[0].detach().float().abs().amax()
    return None


@contextmanager
def disk_full_is_one_line(writing: str, fix: str) -> Iterator[None]:
    """Before Trainer exists (pixel cache, run metadata): a full disk is one `RunFailed` line naming what was
    being written and the fix."""
    try:
        yield
    except Exception as error:
        if not _is_disk_full(error):
            raise
        logger.debug("disk full", exc_info=True)
        raise RunFailed(
            f"disk full (or over quota) while writing {writing} ({type(error).__name__}: {error}); {fix}"
        ) from None


@contextmanager
def explain_faults(trainer: Trainer) -> Iterator[None]:
    """Turn out-of-memory and disk-full errors raised inside into one-line `RunFailed` errors."""
    try:
        yield
    except Exception as error:
        if _is_out_of_memory(error):
            logger.debug("out of memory", exc_info=True)
            raise RunFailed(out_of_memory_message(trainer, error)) from None
        if _is_disk_full(error):
            logger.debug("disk full", exc_info=True)
            removed = remove_incomplete_checkpoints(trainer.args.output_dir) if trainer.args.should_save else []
            raise RunFailed(disk_full_message(trainer.args.output_dir, error, removed)) from None
        raise


def _chain(error: BaseException) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _is_out_of_memory(error: Exception) -> bool:
    return any(
        isinstance(e, torch.OutOfMemoryError)
        or (isinstance(e, Exception) and should_reduce_batch_size(e))
        or "No executable batch size found" in str(e)
        for e in _chain(error)
    )


def _is_disk_full(error: Exception) -> bool:
    return any(
        (isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS) or any(t in str(e) for t in DISK_FULL_TEXTS)
        for e in _chain(error)
    )


def out_of_memory_message(trainer: Trainer, error: Exception) -> str:
    args = trainer.args
    if "No executable batch size found" in str(error):
        return (
            "out of memory even at batch size 1 with --auto_find_batch_size: the model does not fit; try "
            "--bf16, --gradient_checkpointing or a smaller checkpoint"
        )
    frames = {frame.name for frame in traceback.extract_tb(error.__traceback__)}
    if frames & {"evaluation_loop", "prediction_step"}:
        size = args.per_device_eval_batch_size
        return (
            f"out of memory while evaluating with --per_device_eval_batch_size {size}; try "
            f"--per_device_eval_batch_size {max(1, size // 2)} (evaluation results do not depend on it)"
        )
    size = args.per_device_train_batch_size
    if args.auto_find_batch_size:  # the size it had come down to
        size = max(1, getattr(trainer, "_train_batch_size", size) // max(1, args.n_gpu))
    steps = args.gradient_accumulation_steps
    smaller = (
        f"--per_device_train_batch_size {size // 2} --gradient_accumulation_steps {steps * 2} (the same "
        f"{size * steps} images per optimizer step and device), or "
        if size > 1
        else ""
    )
    return (
        f"out of memory while training with --per_device_train_batch_size {size} "
        f"(--gradient_accumulation_steps {steps}); try {smaller}--auto_find_batch_size to pick the largest batch "
        "that fits; --gradient_checkpointing and --bf16 save memory too. Complete checkpoints are kept: a rerun "
        "resumes from the newest"
    )


def disk_full_message(output_dir: str | Path, error: Exception, removed: list[str]) -> str:
    last = latest_complete_checkpoint(output_dir)
    kept = f"{Path(last).name} and earlier outputs are intact" if last else "earlier outputs are intact"
    cleaned = f"; removed the half-written {', '.join(removed)}" if removed else ""
    return (
        f"disk full (or over quota) while writing to {output_dir} ({type(error).__name__}: {error}){cleaned}; "
        f"{kept}. Free some space (or lower --save_total_limit) and rerun the same command to resume"
    )
