"""The demo trains every time: a finished demo run from an earlier version is replaced, not re-printed.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_demo.py      # under a second
"""

import json

import pytest

from har_finetune import demo
from har_finetune.run_folder.files import RUN_CONFIG as OUR_RUN_MARKER


def test_a_rerun_replaces_earlier_demo_runs_and_remakes_the_checkpoints(tmp_path, monkeypatch):
    (tmp_path / "data" / "synthetic_har" / "train").mkdir(parents=True)
    for family in ("clip", "siglip"):  # what an earlier version left: a finished run, an old checkpoint
        (tmp_path / family).mkdir()
        (tmp_path / family / OUR_RUN_MARKER).write_text("{}")
        (tmp_path / family / "all_results.json").write_text(json.dumps({"test_accuracy": 0.1}))
        (tmp_path / "checkpoints" / f"tiny-{family}").mkdir(parents=True)
        (tmp_path / "checkpoints" / f"tiny-{family}" / "stale.bin").write_text("old")
    made, trained = [], []
    monkeypatch.setattr(demo, "make_tiny_checkpoint", lambda family, folder: made.append(family) or folder.mkdir())

    def train(argv, family):
        run_dir = tmp_path / family
        trained.append(not run_dir.exists())  # the old run folder is gone before training starts
        run_dir.mkdir()
        (run_dir / "all_results.json").write_text(json.dumps({"test_accuracy": 0.9}))
        return 0

    monkeypatch.setattr(demo, "train_main", train)
    results = demo.run_demo(tmp_path)
    assert made == ["clip", "siglip"] and trained == [True, True]
    assert {family: r["test_accuracy"] for family, r in results.items()} == {"clip": 0.9, "siglip": 0.9}
    assert not list((tmp_path / "checkpoints").rglob("stale.bin"))


def test_a_foreign_folder_in_the_demo_output_is_left_alone(tmp_path, monkeypatch):
    (tmp_path / "data" / "synthetic_har" / "train").mkdir(parents=True)
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "notes.txt").write_text("mine")  # not a run folder of ours: train.main refuses it
    monkeypatch.setattr(demo, "make_tiny_checkpoint", lambda family, folder: folder.mkdir(parents=True))
    monkeypatch.setattr(demo, "train_main", lambda argv, family: 2)
    with pytest.raises(SystemExit) as stop:
        demo.run_demo(tmp_path)
    assert stop.value.code == 2
    assert (tmp_path / "clip" / "notes.txt").read_text() == "mine"
