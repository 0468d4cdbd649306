"""The demo is a campaign (2 tiny models x 3 seeds) that trains every time: earlier demo runs are replaced.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_demo.py      # under a second
"""

import json

from har_finetune import demo
from har_finetune.run_folder.files import RUN_CONFIG as OUR_RUN_MARKER


def test_earlier_demo_runs_are_removed_and_the_checkpoints_remade(tmp_path, monkeypatch):
    (tmp_path / "data" / "synthetic_har" / "train").mkdir(parents=True)
    for family in ("clip", "siglip"):  # what an earlier demo left: a finished run, an old checkpoint, a report
        (tmp_path / family / "seed-1").mkdir(parents=True)
        (tmp_path / family / "seed-1" / OUR_RUN_MARKER).write_text("{}")
        (tmp_path / family / "seed-1" / "all_results.json").write_text(json.dumps({"test_accuracy": 0.1}))
        (tmp_path / "checkpoints" / family).mkdir(parents=True)
        (tmp_path / "checkpoints" / family / "stale.bin").write_text("old")
    (tmp_path / "report").mkdir()
    made = []
    monkeypatch.setattr(demo, "make_tiny_checkpoint", lambda family, folder: made.append(family) or folder.mkdir())
    plan = demo.demo_plan(tmp_path)
    assert made == ["clip", "siglip"] and not list((tmp_path / "checkpoints").rglob("stale.bin"))
    assert not (tmp_path / "clip" / "seed-1").exists() and not (tmp_path / "report").exists()
    assert [t.label for t in plan.tasks()] == [f"{f}/seed-{s}" for f in ("clip", "siglip") for s in (1, 2, 3)]
    assert plan.tasks()[0].run_dir == (tmp_path / "clip" / "seed-1").resolve()


def test_a_foreign_folder_in_the_demo_output_is_left_alone(tmp_path, monkeypatch):
    (tmp_path / "data" / "synthetic_har" / "train").mkdir(parents=True)
    (tmp_path / "clip" / "seed-1").mkdir(parents=True)
    (tmp_path / "clip" / "seed-1" / "notes.txt").write_text("mine")  # not a run folder of ours: training refuses it
    monkeypatch.setattr(demo, "make_tiny_checkpoint", lambda family, folder: folder.mkdir(parents=True))
    demo.demo_plan(tmp_path)
    assert (tmp_path / "clip" / "seed-1" / "notes.txt").read_text() == "mine"
