"""`--report_to tensorboard`: a live run writes TensorBoard event files holding the same losses as the run folder
(and its console has one line about the loaded checkpoint, not transformers' load report).

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_report_to.py      # ~20 s
"""

import json

import pytest
from helpers_bad_input import flags, make_dataset, tiny_checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from har_finetune.training.job import main


@pytest.mark.slow  # a short training run
def test_report_to_tensorboard_writes_event_files(tmp_path, tmp_path_factory, capfd):
    data = make_dataset(tmp_path / "data", per_class=8)
    out = tmp_path / "run"
    assert main(flags(data, tiny_checkpoint(tmp_path_factory), out, "--report_to", "tensorboard"), family="clip") == 0
    console = "".join(capfd.readouterr())
    assert "LOAD REPORT" not in console and "UNEXPECTED" not in console and "not sharded" not in console
    assert "tensors left out (text tower, projections, pooling head: expected), 2 new" in console
    event_files = list((out / "runs").rglob("events.out.tfevents.*"))
    assert event_files, sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    events = EventAccumulator(str(event_files[0].parent)).Reload()
    logged = {e.step: e.value for e in events.Scalars("train/loss")}
    state = json.loads((out / "trainer_state.json").read_text())
    expected = {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}
    assert logged.keys() == expected.keys() and len(logged) == 6  # --max_steps 6, a loss every step
    assert all(abs(logged[s] - expected[s]) < 1e-4 for s in logged)
    assert {e.step for e in events.Scalars("eval/accuracy")} == {2, 4, 6}  # every 2 steps (and the final one)
