"""The run folder's identity, lock and resume rules (docs/run_folder.md), tried as a user would.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_run_folder.py    # ~2 min

Most cases call the entry point in-process through `run_cli` (the same code path as `python fine_tune_har_clip.py`,
without paying the imports again); the lock cases need real concurrent processes.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_bad_input import flags, make_dataset, snapshot, tiny_checkpoint
from PIL import Image
from run_folders import write_checkpoint

from har_finetune import check_args
from har_finetune.core.cli import run_cli
from har_finetune.run_folder import reader
from har_finetune.run_folder.checkpoints import remove_incomplete_checkpoints
from har_finetune.run_folder.files import LOCK, LOCK_HOLDER
from har_finetune.run_folder.lock import RunLock
from har_finetune.training.job import main

REPO = Path(__file__).resolve().parents[1]


def cli(argv: list[str], capsys, family: str = "clip") -> tuple[int, list[str]]:
    """Exit code and stderr lines of the entry script run with `argv`."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main(argv, family=family))
    return stop.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("run_folder") / "data")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return tiny_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def unfinished(data, checkpoint, tmp_path_factory) -> Path:
    """A run stopped after training (checkpoints, split, config; no all_results.json): what a preempted job leaves."""
    out = tmp_path_factory.mktemp("unfinished") / "run"
    assert main(flags(data, checkpoint, out), family="clip") == 0
    (out / "all_results.json").unlink()
    return out


@pytest.mark.parametrize(
    "change, named",
    [
        (["--seed", "7"], "--seed 0 -> 7"),
        (["--learning_rate", "1e-5"], "--learning_rate 0.001 -> 1e-05"),
        (["--augmentation", "none"], "--augmentation crop_flip -> none"),
    ],
)
def test_changed_settings_are_refused_before_the_scan_and_the_folder_is_untouched(
    unfinished, data, checkpoint, change, named, capsys, monkeypatch
):
    before = snapshot(unfinished)
    monkeypatch.setattr("har_finetune.data.prepare.scan_source", lambda *a, **k: pytest.fail("the scan started"))
    code, err = cli(flags(data, checkpoint, unfinished, *change), capsys)
    assert code == 2 and len(err) == 1, err
    assert (
        named in err[0] and "unfinished run" in err[0] and "original command" in err[0] and "new --output_dir" in err[0]
    )
    assert snapshot(unfinished) == before  # run_config.json, split.csv, checkpoints: byte-identical


def test_another_dataset_is_refused_before_the_scan(unfinished, checkpoint, tmp_path, capsys, monkeypatch):
    other = make_dataset(tmp_path / "other", per_class=6)
    before = snapshot(unfinished)
    monkeypatch.setattr("har_finetune.data.prepare.scan_source", lambda *a, **k: pytest.fail("the scan started"))
    code, err = cli(flags(other, checkpoint, unfinished), capsys)
    assert code == 2 and len(err) == 1 and "--dataset" in err[0] and str(other) in err[0]
    assert snapshot(unfinished) == before


def test_settings_that_cannot_change_the_result_may_differ(unfinished, data, checkpoint, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(unfinished, copy)
    extra = ["--per_device_eval_batch_size", "3", "--logging_steps", "2", "--report_to", "none"]
    code, err = cli(flags(data, checkpoint, copy, *extra), capsys)
    assert code == 0, err
    results = json.loads((copy / "all_results.json").read_text())
    assert 0 < results["resumed_from_epoch"] <= results["epochs"]  # resumed from a checkpoint, not from scratch
    settings = json.loads((copy / "run_config.json").read_text())["training_args"]
    assert settings["per_device_eval_batch_size"] == 3 and settings["logging_steps"] == 2  # the new settings apply


def test_images_changed_in_place_are_refused_after_the_scan_before_anything_is_written(
    unfinished, data, checkpoint, tmp_path, capsys
):
    import shutil

    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    run = tmp_path / "run"
    shutil.copytree(unfinished, run)
    config = json.loads((run / "run_config.json").read_text())
    config["identity"]["dataset"] = str(changed.resolve())  # as if the run had been started on this copy
    (run / "run_config.json").write_text(json.dumps(config))
    first = sorted((changed / "train").rglob("*.jpg"))[0]
    Image.new("RGB", (40, 30), (1, 2, 3)).save(first)  # same name, other pixels
    before = snapshot(run)
    code, err = cli(flags(changed, checkpoint, run), capsys)
    err = [line for line in err if not line.startswith("checking 24 images")]  # the scan's progress bar
    assert code == 2 and len(err) == 1 and "the dataset's image content changed" in err[0]
    assert snapshot(run) == before


def test_a_finished_run_with_other_settings_or_older_data_says_so(data, checkpoint, tmp_path, capsys):
    import shutil

    copy, out = tmp_path / "data", tmp_path / "run"
    shutil.copytree(data, copy)
    assert main(flags(copy, checkpoint, out), family="clip") == 0
    before = snapshot(out)
    assert cli(flags(copy, checkpoint, out), capsys) == (0, [])  # same settings: nothing to do, quietly
    for change, named in ((["--seed", "3"], "--seed 0 -> 3"), (["--split_seed", "7"], "--split_seed 42 -> 7")):
        code, err = cli(flags(copy, checkpoint, out, *change), capsys)  # split_seed: issue 19's planted bug
        assert code == 2 and len(err) == 1 and "finished run with other settings" in err[0] and named in err[0], err
    sorted((copy / "train").rglob("*.jpg"))[0].unlink()  # the data changed since the run
    argv = flags(copy, checkpoint, out)
    for entry in (lambda: main(argv, family="clip"), lambda: check_args.main(["clip", *argv])):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            run_cli(entry)
        err = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(err) == 1, err
        assert "finished run of older data" in err[0] and "list of images and labels changed" in err[0], err
    assert snapshot(out) == before


def test_changed_logging_and_save_steps_take_effect_on_resume(unfinished, data, checkpoint, tmp_path, capsys):
    """trainer_state.json holds the intervals the run started with; Trainer would keep them on resume."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(unfinished, run)
    for later in [c for c in run.glob("checkpoint-*") if int(c.name.split("-")[1]) > 2]:
        shutil.rmtree(later)  # resume from step 2 of 6 (the run logged every step, saved every 2)
    code, err = cli(flags(data, checkpoint, run, "--logging_steps", "2", "--save_steps", "4"), capsys)
    assert code == 0, err
    state = json.loads((run / "trainer_state.json").read_text())
    logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert logged == [1, 2, 4, 6], logged  # steps 1-2 before the resume, then every 2 steps (not 3, 5)
    assert state["logging_steps"] == 2 and state["save_steps"] == 4


def test_resume_from_a_missing_or_incomplete_checkpoint_is_one_line(data, checkpoint, unfinished, tmp_path, capsys):
    code, err = cli(flags(data, checkpoint, tmp_path / "a", "--resume_from_checkpoint", str(tmp_path / "nope")), capsys)
    assert code == 2 and len(err) == 1 and "no such folder" in err[0] and str(tmp_path / "nope") in err[0]
    assert not (tmp_path / "a").exists()
    broken = write_checkpoint(tmp_path / "other", 4)
    (broken / "optimizer.pt").unlink()
    code, err = cli(flags(data, checkpoint, tmp_path / "b", "--resume_from_checkpoint", str(broken)), capsys)
    assert code == 2 and len(err) == 1 and "incomplete: optimizer.pt is missing" in err[0]
    assert not (tmp_path / "b").exists()


def test_resume_from_a_good_checkpoint_of_another_run_continues_from_its_step(data, checkpoint, unfinished, tmp_path):
    source = min(unfinished.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    step = int(source.name.split("-")[1])
    assert step < 6
    out = tmp_path / "run"
    assert main(flags(data, checkpoint, out, "--resume_from_checkpoint", str(source)), family="clip") == 0
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    source_history = json.loads((source / "trainer_state.json").read_text())["log_history"]
    assert history[: len(source_history)] == source_history  # the steps up to the checkpoint's came with it
    assert max(row["step"] for row in history) == 6
    assert json.loads((out / "all_results.json").read_text())["resumed_from_epoch"] == pytest.approx(step / 5)


def test_save_only_model_is_refused_with_the_reason(data, checkpoint, tmp_path, capsys):
    code, err = cli(flags(data, checkpoint, tmp_path / "run", "--save_only_model", "true"), capsys)
    assert code == 2 and len(err) == 1 and "cannot be resumed" in err[0] and not (tmp_path / "run").exists()


def test_the_last_checkpoint_with_model_weights_is_never_deleted(tmp_path):
    weights_only = write_checkpoint(tmp_path, 4)
    (weights_only / "optimizer.pt").unlink()  # e.g. the disk filled up while the optimizer was saved
    assert remove_incomplete_checkpoints(tmp_path) == [] and weights_only.is_dir()
    complete = write_checkpoint(tmp_path / "second", 2)
    newer = write_checkpoint(tmp_path / "second", 6)
    (newer / "optimizer.pt").unlink()
    assert remove_incomplete_checkpoints(tmp_path / "second") == ["checkpoint-6"] and complete.is_dir()


def _environment() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "fine_tune_har_clip.py", *argv], cwd=REPO, env=_environment(), stdout=out, stderr=out
        )


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, "the first run ended before it got there"
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.2)


# The second process pays its imports (~10 s) first, then waits for the trigger file: it reaches the folder while
# the first one is surely still training, however loaded the machine is.
WAITING_DRIVER = """
import os, runpy, sys, time
import har_finetune.training.job
trigger = sys.argv[1]
while not os.path.exists(trigger):
    time.sleep(0.05)
sys.argv = ["fine_tune_har_clip.py", *sys.argv[2:]]
runpy.run_path("fine_tune_har_clip.py", run_name="__main__")
"""


@pytest.mark.slow
def test_a_second_process_on_the_same_folder_stops_at_once_naming_the_holder(data, checkpoint, tmp_path):
    out, trigger = tmp_path / "run", tmp_path / "go"
    argv = flags(data, checkpoint, out, "--learning_rate", "1e-5")
    second = subprocess.Popen(
        [sys.executable, "-c", WAITING_DRIVER, str(trigger), *argv],
        cwd=REPO,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # long enough to still train while the second process starts, on a loaded machine too
    first = _start(flags(data, checkpoint, out, "--max_steps", "100"), tmp_path / "first.log")
    _wait_for(out / ".run.lock.holder", first)
    trigger.touch()
    started = time.time()
    _, stderr = second.communicate(timeout=120)
    err = stderr.strip().splitlines()
    assert second.returncode == 2 and len(err) == 1, stderr
    assert "in use by another training process" in err[0] and f"pid {first.pid}" in err[0]
    assert time.time() - started < 15 and first.poll() is None  # at once, while the first one still trains
    assert first.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()[-2000:]
    identity = json.loads((out / "run_config.json").read_text())["identity"]
    assert identity["learning_rate"] == 1e-3 and identity["max_steps"] == 100  # the first run's, whole
    assert json.loads((out / "all_results.json").read_text())["epoch"] == pytest.approx(100 / 5)


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_does_not_block_and_the_resume_reports_its_epoch(data, checkpoint, tmp_path):
    out = tmp_path / "run"
    argv = flags(data, checkpoint, out, "--max_steps", "60", "--save_total_limit", "1")
    first = _start(argv, tmp_path / "first.log")
    deadline = time.time() + 300
    while not list(out.glob("checkpoint-*/trainer_state.json")):  # the first checkpoint: kill it right there
        assert first.poll() is None and time.time() < deadline, "no checkpoint before the first run ended"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (out / ".run.lock.holder").is_file()  # left behind by the killed process: stale, must not block
    second = subprocess.run(
        [sys.executable, "fine_tune_har_clip.py", *argv], cwd=REPO, env=_environment(), capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr[-2000:]
    # a kill during the next save may leave a half-written checkpoint: "Not resuming from" it is right, then too
    resumed = [line for line in second.stdout.splitlines() if "resuming from" in line and "Not resuming" not in line]
    assert len(resumed) == 1
    step = int(resumed[0].rsplit("checkpoint-", 1)[1])
    results = json.loads((out / "all_results.json").read_text())
    steps_per_epoch = 5  # 17 training images (of 24) in batches of 4
    assert results["resumed_from_epoch"] == pytest.approx(step / steps_per_epoch)


def test_run_name_is_the_same_while_training_and_after(data, tmp_path_factory, tmp_path):
    siglip2 = tiny_checkpoint(tmp_path_factory, "siglip2")
    out = tmp_path / "run"
    assert main(flags(data, siglip2, out, "--max_steps", "2"), family="siglip") == 0
    finished = reader.model_name(out)
    (out / "all_results.json").unlink()  # as while training
    for name in ("config.json", "trainer_state.json"):
        (out / name).unlink()
    assert reader.model_name(out) == finished == "SigLIP2"


def test_plotting_and_reporting_import_no_torch():
    code = "import sys, plot_metrics, visualize_predictions; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_run_lock_is_free_once_the_block_ends_while_the_object_lives(tmp_path):
    """filelock frees a lock when its object is collected, which would hide a lock the block never releases."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = RunLock(run_dir)  # kept alive: a lock freed only when collected would still be held below
    with lock:
        assert (run_dir / LOCK_HOLDER).is_file()
    assert not (run_dir / LOCK_HOLDER).exists()
    with open(run_dir / LOCK, "a") as f:  # flock locks per open file: another open() in this process competes
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    with lock:  # the same object locks again: the block's end freed it, not the collector
        assert (run_dir / LOCK_HOLDER).is_file()


def test_the_record_says_which_configuration_seed_and_data_a_run_is(tmp_path):
    """What the report groups runs by, asked of RunRecord: the identity without the seed, the seed, and the data
    (the content fingerprint, else the dataset's root for folders that record no identity)."""
    run = tmp_path / "run"
    run.mkdir()
    identity = {"seed": 3, "learning_rate": 0.001, "dataset_fingerprint": "abc"}
    (run / "run_config.json").write_text(json.dumps({"identity": identity, "dataset": {"root": "/data/har"}}))
    record = reader.RunRecord.load(run)
    assert record.seed == 3 and record.configuration == {"learning_rate": 0.001, "dataset_fingerprint": "abc"}
    assert record.data_version == "abc"
    (run / "run_config.json").write_text(json.dumps({"dataset": {"root": "/data/har"}}))  # no settings recorded
    record = reader.RunRecord.load(run)
    assert record.configuration is None and record.seed is None and record.data_version == "/data/har"
