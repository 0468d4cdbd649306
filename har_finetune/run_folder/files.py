"""The run folder's file names, and atomic writes: a file that exists is complete (temporary file in the same
folder, fsync, rename). docs/run_folder.md specifies every file.

Files get the mode `open()` would give them (0666 less the umask): `mkstemp` alone makes them 0600 whatever the
umask, and `os.replace` keeps that, so a lab sharing a folder (umask 002 or 022) could not read a colleague's run."""

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; the flag checks reach this module
    import pandas as pd


RUN_CONFIG = "run_config.json"  # written first: its presence makes a folder one of our runs
VERSIONS = "versions.json"
MODEL_CARD = "README.md"  # the model card (reporting/model_card.py)
SPLIT = "split.csv"
SKIPPED = "skipped_images.csv"
NEAR_DUPLICATES = "near_duplicates.csv"  # group, id, label, distance: the groups the split kept on one side
RESULTS = "all_results.json"  # written last: its presence means the run finished
PREDICTIONS = "test_predictions.csv"
PROBABILITIES = "test_probabilities.csv"  # since issue 28: older run folders lack it
CLASS_REPORT = "classification_report.csv"
TRAINER_STATE = "trainer_state.json"
MODEL_CONFIG = "config.json"
ZERO_SHOT_RESULTS = "zero_shot_results.json"
ZERO_SHOT_PREDICTIONS = "zero_shot_predictions.csv"
LOCK = ".run.lock"  # held by the process that trains into the folder (lock.py)
LOCK_HOLDER = ".run.lock.holder"  # who holds it: host, pid, Slurm job
FINAL_STAGING = ".final-model.tmp"  # hidden: never mistaken for a checkpoint or a model folder
CHECKPOINT_GLOB = "checkpoint-[0-9]*"
PLOTS = "plots"  # RUN_DIR/plots/: the run's figures (reporting/run_figures.py)
TRAIN_FIGURE, EVAL_FIGURE = "train_metrics.png", "eval_metrics.png"
CONFUSION_FIGURE, F1_FIGURE = "confusion_matrix.png", "per_class_f1.png"
FIGURES = (TRAIN_FIGURE, EVAL_FIGURE, CONFUSION_FIGURE, F1_FIGURE)
REPORT = "REPORT.md"  # a report folder (plot_metrics.py --out)
RUN_MARKERS = (RUN_CONFIG, RESULTS, TRAINER_STATE, PREDICTIONS)  # any one: a run to read (older ones too)


def is_run_folder(path: str | os.PathLike) -> bool:
    """A folder to read as a run: one of its files, or a Trainer checkpoint (a run still in its first epoch)."""
    path = Path(path)
    if not path.is_dir():
        return False
    return any((path / name).is_file() for name in RUN_MARKERS) or any(path.glob(f"{CHECKPOINT_GLOB}/"))


def may_train_into(path: str | os.PathLike) -> bool:
    """A folder a run may write into: one that holds no visible file (its lock and our atomic writes' temporaries
    are hidden), our run_config.json, or a checkpoint of a run still in its first epoch. Stricter than
    `is_run_folder`: another tool's results (a stock Trainer's all_results.json) are never taken for ours."""
    path = Path(path)
    if not [p for p in path.iterdir() if not p.name.startswith(".")]:
        return True
    return (path / RUN_CONFIG).is_file() or any(path.glob(f"{CHECKPOINT_GLOB}/"))


def is_output_folder(path: str | os.PathLike) -> bool:
    """A run folder, or a folder of figures or a report written from run folders: never a dataset class."""
    path = Path(path)
    return is_run_folder(path) or any((path / name).is_file() for name in (REPORT, *FIGURES))


def umask() -> int:
    """The process's umask, read without changing it (Linux >= 4.7 shows it in /proc; elsewhere set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~umask())  # as open() would create it (mkstemp: 0600 whatever the umask)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def follow_umask(folder: str | os.PathLike) -> None:
    """Give the files directly in `folder` the mode `open()` would have given them: safetensors (0.8) writes its
    files 0600 whatever the umask, so checkpoint and final weights were unreadable to the rest of a lab."""
    mode = 0o666 & ~umask()
    for path in Path(folder).iterdir():
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: object) -> Path:
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_csv(path: str | os.PathLike, frame: "pd.DataFrame") -> Path:
    return write_text(path, frame.to_csv(index=False))


def read_json_or_none(path: Path) -> object | None:
    """The parsed file, or None when it is missing, unreadable or not JSON (a half-written file)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
