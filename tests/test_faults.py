"""Faults during a run (issue 7): NaN/inf, out of memory, disk full, a foreign --output_dir. Each stops with one
clear line, keeps the last good checkpoint and never leaves a broken or half-written result.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_faults.py          # ~30 s

Faults are injected: a model whose loss turns NaN at a chosen step, `torch.OutOfMemoryError` and
`OSError(ENOSPC)` raised from inside Trainer (monkeypatched), on a tiny CLIP and a 24-image dataset.
"""

import errno
import functools
import json
import math
from pathlib import Path

import pytest
import torch
from helpers_bad_input import flags, make_dataset, snapshot, tiny_checkpoint
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForImageClassification, Trainer, TrainerCallback, TrainingArguments

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import RunFailed, UserError
from har_finetune.data import pixel_files
from har_finetune.run_folder import files as io
from har_finetune.run_folder import writer
from har_finetune.run_folder.checkpoints import checkpoint_problem
from har_finetune.run_folder.files import FINAL_STAGING
from har_finetune.settings.checks import check_output_dir
from har_finetune.training import job as train
from har_finetune.training.guards import NonFiniteGuard

# 17 training images in batches of 4: 5 steps per epoch. Trainer resumed from a checkpoint at max_steps in the
# middle of an epoch trains one step more, so the run that must not train again ends at an epoch end.
ONE_EPOCH = ("--max_steps", "5")
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("faults") / "data", per_class=8)


@pytest.fixture
def run(data, tmp_path, tmp_path_factory):
    """`run(*extra_flags)`: train.main on the tiny set into tmp_path/run; returns its exit code."""
    out = tmp_path / "run"
    checkpoint = tiny_checkpoint(tmp_path_factory)
    return lambda *extra: train.main(flags(data, checkpoint, out, *extra), family="clip")


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("checkpoint-*"))


def all_finite(weights: Path) -> bool:
    return all(torch.isfinite(t).all() for t in load_file(weights).values())


def assert_not_finished(out: Path) -> None:
    """No result of this run: no all_results.json, no final model or predictions, nothing half-written."""
    names = {p.name for p in out.iterdir()}
    assert not names & {"all_results.json", "model.safetensors", "config.json", "test_predictions.csv"}, names
    assert not list(out.rglob("*.tmp")) and FINAL_STAGING not in names


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(run, monkeypatch, tmp_path):
    real_load = train.load_classifier

    def load_poisoned(*args, **kwargs):  # the loss of the 5th training batch is NaN
        model, family = real_load(*args, **kwargs)
        forward, calls = model.forward, []

        @functools.wraps(forward)
        def poisoned(*a, **kw):
            outputs = forward(*a, **kw)
            calls.append(model.training)
            if model.training and sum(calls) == 5:
                outputs.loss = outputs.loss * math.nan
            return outputs

        model.forward = poisoned
        return model, family

    monkeypatch.setattr(train, "load_classifier", load_poisoned)
    with pytest.raises(RunFailed, match=r"training loss became nan at step 5 .*checkpoint-4 is the last good") as e:
        run()
    assert "--learning_rate" in str(e.value) and e.value.exit_code == 3
    out = tmp_path / "run"
    assert checkpoints(out) == ["checkpoint-2", "checkpoint-4"]  # nothing saved at or after step 5
    for name in checkpoints(out):
        assert checkpoint_problem(out / name) is None and all_finite(out / name / "model.safetensors")
    assert_not_finished(out)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 2)

    def forward(self, x, labels=None):
        logits = self.layer(x)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


class BlowUpWeights(TrainerCallback):
    """Weights become inf in the optimizer step of step 4, after its (finite) loss was computed."""

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        if state.global_step == 3:
            model.layer.weight.data.fill_(math.inf)


def test_non_finite_weights_are_never_saved_even_with_a_finite_loss(tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=2,
        save_steps=2,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        logging_steps=1,
    )
    samples = [{"x": torch.randn(4), "labels": i % 2} for i in range(12)]
    guard = NonFiniteGuard()
    trainer = Trainer(model=Tiny(), args=args, train_dataset=samples, callbacks=[BlowUpWeights(), guard])
    trainer.train()
    assert guard.failure and "weights became NaN or infinite before saving checkpoint-4" in guard.failure
    assert checkpoints(tmp_path) == ["checkpoint-2"] and trainer.state.global_step == 4


class NanWhenEvaluating(Tiny):
    def forward(self, x, labels=None):
        outputs = super().forward(x, labels)
        return outputs if self.training else {**outputs, "loss": outputs["loss"] * math.nan}


def test_non_finite_validation_loss_stops_before_the_checkpoint_of_that_step(tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=2,
        save_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
    )
    samples = [{"x": torch.randn(4), "labels": i % 2} for i in range(12)]
    guard = NonFiniteGuard()
    trainer = Trainer(
        model=NanWhenEvaluating(), args=args, train_dataset=samples, eval_dataset=samples[:4], callbacks=[guard]
    )
    trainer.train()
    assert guard.failure and "validation loss became nan at step 2" in guard.failure
    assert checkpoints(tmp_path) == [] and trainer.state.global_step == 2


def test_out_of_memory_names_the_batch_size_and_what_to_try(run, monkeypatch, tmp_path, capsys):
    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(Trainer, "training_step", out_of_memory)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 3 and line.startswith("error: out of memory while training")
    for words in (
        "--per_device_train_batch_size 4 ",
        "--per_device_train_batch_size 2 --gradient_accumulation_steps 2",
        "--auto_find_batch_size",
    ):
        assert words in line, line
    assert_not_finished(tmp_path / "run")


def test_out_of_memory_in_evaluation_names_the_evaluation_batch_size(run, monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(Trainer, "prediction_step", out_of_memory)
    with pytest.raises(
        RunFailed, match="evaluating with --per_device_eval_batch_size 8; try --per_device_eval_batch_size 4"
    ):
        run()


def test_auto_find_batch_size_recovers_from_out_of_memory(run, monkeypatch, tmp_path):
    real_step = Trainer.training_step

    def fits_only_3(self, *args, **kwargs):
        if self._train_batch_size > 3:  # 4 fails, then accelerate tries int(0.9 * 4) = 3
            raise torch.OutOfMemoryError(OOM)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", fits_only_3)
    assert run("--auto_find_batch_size") == 0
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 3 and (tmp_path / "run" / "all_results.json").is_file()


def test_disk_full_during_a_checkpoint_keeps_the_previous_one_and_the_rerun_resumes(run, monkeypatch, tmp_path):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if str(f).endswith("optimizer.pt") and "checkpoint-4" in str(f):
            Path(f).write_bytes(b"PK\x03\x04" + bytes(64))  # what a full disk leaves: an archive cut short
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(
        RunFailed,
        match="disk full .*removed the half-written checkpoint-4; checkpoint-2 and earlier outputs are intact",
    ):
        run()
    out = tmp_path / "run"
    assert checkpoints(out) == ["checkpoint-2"] and checkpoint_problem(out / "checkpoint-2") is None
    assert_not_finished(out)
    monkeypatch.undo()  # space freed
    assert run() == 0
    state = json.loads((out / "trainer_state.json").read_text())
    assert (out / "all_results.json").is_file()
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4, 5, 6]  # resumed at 2, once each
    results = json.loads((out / "all_results.json").read_text())
    assert results["resumed_from_epoch"] == pytest.approx(2 / 5)  # 5 steps per epoch
    # train_runtime timed the steps after the resume only: seconds per epoch of those, not of the whole run
    epochs_timed = results["epoch"] - 2 / 5
    assert results["seconds_per_epoch"] == pytest.approx(results["train_runtime"] / epochs_timed)


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_the_run_metadata_is_one_line(run, monkeypatch, tmp_path):
    real_write_json = io.write_json

    def write_json(path, *args):
        return _full_disk() if path.name == "run_config.json" else real_write_json(path, *args)

    monkeypatch.setattr(writer, "write_json", write_json)
    with pytest.raises(RunFailed, match=r"disk full .* writing the run folder .*run .*free some space and rerun"):
        run()
    assert not (tmp_path / "run" / "run_config.json").exists()


def test_disk_full_in_the_pixel_cache_is_one_line_and_gives_the_space_back(run, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    real_append = pixel_files.Writer.append
    appended = []

    def append(self, pixels, size):  # a few images fit, then the disk is full
        appended.append(size)
        return _full_disk() if len(appended) > 5 else real_append(self, pixels, size)

    monkeypatch.setattr(pixel_files.Writer, "append", append)
    with pytest.raises(RunFailed, match=r"disk full .* pixel cache in .*cache.*--pixel_cache_dir.*--no_pixel_cache"):
        run("--pixel_cache_dir", str(cache))
    assert len(appended) > 5 and not [p for p in (cache / "pixels").iterdir() if p.is_dir()]  # no partial store
    assert run("--pixel_cache_dir", str(cache), "--no_pixel_cache") == 0  # the way out the message names


def test_disk_full_while_writing_the_final_model_leaves_nothing_half_written(run, monkeypatch, tmp_path):
    real_save_model = Trainer.save_model

    def save_model(self, output_dir=None, _internal_call=False):
        real_save_model(self, output_dir, _internal_call)
        if output_dir and output_dir.endswith(FINAL_STAGING):
            weights = Path(output_dir) / "model.safetensors"
            weights.write_bytes(weights.read_bytes()[:100])
            raise OSError(errno.ENOSPC, "No space left on device", str(weights))

    monkeypatch.setattr(Trainer, "save_model", save_model)
    with pytest.raises(RunFailed, match="disk full"):
        run(*ONE_EPOCH)
    out = tmp_path / "run"
    assert_not_finished(out)
    kept = checkpoints(out)  # the best one and checkpoint-5
    assert "checkpoint-5" in kept and all(checkpoint_problem(out / name) is None for name in kept)
    monkeypatch.undo()
    (out / FINAL_STAGING).mkdir()  # as a run killed (kill -9) while saving leaves it
    (out / FINAL_STAGING / "model.safetensors").write_bytes(b"half")
    assert run(*ONE_EPOCH) == 0
    assert not (out / FINAL_STAGING).exists() and (out / "all_results.json").is_file()
    assert checkpoints(out) == kept  # finished from checkpoint-5, no new training
    assert AutoModelForImageClassification.from_pretrained(out).config.num_labels == 3


def test_json_and_csv_outputs_are_atomic_when_the_disk_fills_up(tmp_path, monkeypatch):
    path = io.write_json(tmp_path / "all_results.json", {"test_accuracy": 0.9})

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.write_json(path, {"test_accuracy": 0.1, "padding": "x" * 100_000})
    assert json.loads(path.read_text()) == {"test_accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["all_results.json"]  # no temporary file left behind


def test_output_dir_holding_something_else_is_refused(run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "thesis.tex").write_text("my thesis")
    before = snapshot(out)
    with pytest.raises(UserError, match="holds files that are not a run of this tool; choose an empty or new folder"):
        run()
    assert snapshot(out) == before
    out_file = tmp_path / "a_file"
    out_file.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_output_dir(out_file)
