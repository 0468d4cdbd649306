"""Which checkpoint a requeued job resumes from: only complete ones.

.venv/bin/pytest tests/test_checkpoints.py -q      # ~1 s
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from run_folders import write_checkpoint
from safetensors.torch import save_file

from har_finetune import HAR_CLASSES
from har_finetune.run_folder import reader
from har_finetune.run_folder.checkpoints import checkpoint_problem, latest_complete_checkpoint, run_is_finished
from har_finetune.training.job import checkpoint_to_resume


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    for step in (10, 20, 30):
        write_checkpoint(tmp_path, step)
    return tmp_path


def test_newest_complete_checkpoint_is_chosen(run_dir):
    assert latest_complete_checkpoint(run_dir) == str(run_dir / "checkpoint-30")


def test_steps_sort_numerically_not_as_text(tmp_path):
    write_checkpoint(tmp_path, 9)
    write_checkpoint(tmp_path, 100)
    assert latest_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-100")


def test_no_checkpoint(tmp_path):
    assert latest_complete_checkpoint(tmp_path) is None
    assert latest_complete_checkpoint(tmp_path / "missing") is None


def test_other_folders_and_files_are_ignored(run_dir):
    (run_dir / "checkpoint-99.tmp").mkdir()
    (run_dir / "checkpoint-40").write_text("a file, not a folder")
    assert latest_complete_checkpoint(run_dir) == str(run_dir / "checkpoint-30")


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: shutil.rmtree(p) or p.mkdir(), "trainer_state.json"),  # empty folder: save just started
        (lambda p: truncate(p / "trainer_state.json"), "trainer_state.json"),
        (lambda p: (p / "trainer_state.json").write_text("{}"), "global_step"),
        (lambda p: (p / "optimizer.pt").unlink(), "optimizer.pt"),  # Trainer would resume with a fresh optimizer
        (lambda p: (p / "optimizer.pt").write_bytes(b""), "optimizer.pt"),
        (lambda p: truncate(p / "optimizer.pt"), "optimizer.pt"),
        (lambda p: (p / "scheduler.pt").unlink(), "scheduler.pt"),
        (lambda p: truncate(p / "model.safetensors", 0.9), "model.safetensors"),
        (lambda p: truncate(p / "model.safetensors", 0.01), "model.safetensors"),
        (lambda p: (p / "model.safetensors").unlink(), "no model weights"),
        (lambda p: (p / "checkpoint-is-incomplete.txt").write_text(""), "checkpoint-is-incomplete.txt"),
    ],
    ids=[
        "empty-folder",
        "truncated-state",
        "state-without-step",
        "missing-optimizer",
        "empty-optimizer",
        "truncated-optimizer",
        "missing-scheduler",
        "truncated-weights",
        "truncated-weights-header",
        "missing-weights",
        "incomplete-marker",
    ],
)
def test_damaged_newest_checkpoint_falls_back_to_previous(run_dir, damage, reason):
    damage(run_dir / "checkpoint-30")
    assert reason in checkpoint_problem(run_dir / "checkpoint-30")
    assert latest_complete_checkpoint(run_dir) == str(run_dir / "checkpoint-20")


def test_all_damaged_means_start_from_scratch(run_dir):
    for step in (10, 20, 30):
        (run_dir / f"checkpoint-{step}" / "optimizer.pt").unlink()
    assert latest_complete_checkpoint(run_dir) is None


def test_sharded_weights(tmp_path):
    path = write_checkpoint(tmp_path, 5)
    (path / "model.safetensors").unlink()
    save_file({"a": torch.ones(2)}, path / "model-00001-of-00002.safetensors")
    save_file({"b": torch.ones(3)}, path / "model-00002-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert checkpoint_problem(path) is None
    truncate(path / "model-00002-of-00002.safetensors", 0.95)
    assert "model-00002-of-00002.safetensors" in checkpoint_problem(path)


def test_run_is_finished(tmp_path):
    assert not run_is_finished(tmp_path)
    assert not run_is_finished(tmp_path / "missing")
    (tmp_path / "all_results.json").write_text('{"test_accuracy": 0.5')  # not the atomic writer: torn
    assert not run_is_finished(tmp_path)
    (tmp_path / "all_results.json").write_text('{"test_accuracy": 0.5}')
    assert run_is_finished(tmp_path)


def _model_config(folder: Path, classes: list[str]) -> Path:
    folder.mkdir(parents=True)
    id2label = {str(i): name for i, name in enumerate(classes)}
    (folder / "config.json").write_text(json.dumps({"id2label": id2label, "label2id": {}}))
    return folder


def test_label_maps_are_read_in_label_id_order_from_eleven_classes(tmp_path):
    """Sorted as text, "10" < "2": a label map is wrong from 11 classes on, and HAR has 15."""
    classes = list(HAR_CLASSES)
    assert len(classes) == 15
    checkpoint = _model_config(tmp_path / "run" / "checkpoint-4", classes)
    assert checkpoint_to_resume(tmp_path / "run", str(checkpoint), classes) == str(checkpoint)
    _model_config(tmp_path / "finished", classes)
    assert reader.class_names(tmp_path / "finished") == classes
