"""A signal makes Trainer checkpoint and stop; resuming gives exactly the uninterrupted result (tiny model, in-process).

.venv/bin/pytest tests/test_preemption.py -q       # ~15 s
"""

import os
import signal

import pytest
import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments

from har_finetune.run_folder.checkpoints import checkpoint_problem, latest_complete_checkpoint
from har_finetune.training.preemption import STOP_SIGNALS, PreemptionCallback

STEPS_PER_EPOCH, EPOCHS = 10, 3  # 40 samples / batch 4


class TinyClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 3)

    def forward(self, x, labels=None):
        logits = self.layer(x)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def dataset(n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return [{"x": x[i], "labels": int(x[i, :3].argmax())} for i in range(n)]


class SignalAtStep(TrainerCallback):
    """Plays the cluster: sends a signal to this process at the end of one step."""

    def __init__(self, step: int, sig: signal.Signals):
        self.step, self.sig = step, sig

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), self.sig)


def train(output_dir, signal_at: int | None = None, sig=signal.SIGUSR1) -> tuple[Trainer, PreemptionCallback]:
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        num_train_epochs=EPOCHS,
        learning_rate=0.1,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        logging_steps=5,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        seed=0,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
    )
    torch.manual_seed(0)
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}  # put back below: more trainers follow
    preemption = PreemptionCallback()
    callbacks = ([SignalAtStep(signal_at, sig)] if signal_at else []) + [preemption]
    trainer = Trainer(
        model=TinyClassifier(),
        args=args,
        train_dataset=dataset(40, 1),
        eval_dataset=dataset(12, 2),
        callbacks=callbacks,
    )
    try:
        trainer.train(resume_from_checkpoint=latest_complete_checkpoint(output_dir))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return trainer, preemption


def evals(trainer: Trainer) -> list[tuple]:
    return [(e["step"], e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    trainer, preemption = train(tmp_path_factory.mktemp("uninterrupted"))
    assert not preemption.preempted
    return trainer


@pytest.mark.parametrize(
    "stop_step, sig",
    [(13, signal.SIGUSR1), (10, signal.SIGTERM), (20, signal.SIGUSR1)],
    ids=["mid-epoch-usr1", "epoch-end-term", "epoch-end-usr1"],
)
def test_stop_and_resume_matches_uninterrupted_run(tmp_path, uninterrupted, stop_step, sig):
    trainer, preemption = train(tmp_path, signal_at=stop_step, sig=sig)
    assert preemption.preempted and preemption.stopped_at_step == stop_step == trainer.state.global_step
    assert latest_complete_checkpoint(tmp_path) == str(tmp_path / f"checkpoint-{stop_step}")
    # mid-epoch: no evaluation of a partial epoch; at an epoch end: that epoch's evaluation happened
    assert [step for step, _ in evals(trainer)] == list(range(STEPS_PER_EPOCH, stop_step + 1, STEPS_PER_EPOCH))

    resumed, preemption = train(tmp_path)
    assert not preemption.preempted
    assert resumed.state.global_step == uninterrupted.state.global_step == STEPS_PER_EPOCH * EPOCHS
    assert evals(resumed) == evals(uninterrupted)  # same data order and updates: exactly equal on CPU
    assert resumed.state.best_model_checkpoint.endswith(uninterrupted.state.best_model_checkpoint.split("/")[-1])
    for name, value in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_signal_at_last_step_lets_the_run_finish(tmp_path):
    trainer, preemption = train(tmp_path, signal_at=STEPS_PER_EPOCH * EPOCHS)
    assert preemption.received == signal.SIGUSR1 and not preemption.preempted
    assert checkpoint_problem(tmp_path / f"checkpoint-{STEPS_PER_EPOCH * EPOCHS}") is None
