"""The run folder's one reader (docs/run_folder.md): `RunRecord.load(run_dir)` for every program that reads runs.

    record = RunRecord.load("outputs/clip")
    record.model_name, record.results["test_accuracy"], record.predictions, record.split, record.dataset_name

Used by the figures, the report and its comparisons, the annotated samples, predict, the model card, the demo and
training itself (a rerun's recorded identity and split, a checkpoint's classes). Reads only files; never imports
training code, torch or transformers. Files are read when first asked for, once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from har_finetune.core.errors import UserError
from har_finetune.core.local_paths import missing_path_message
from har_finetune.run_folder.checkpoints import (
    checkpoint_epoch,
    checkpoint_problem,
    latest_complete_checkpoint,
    numbered_checkpoints,
    run_is_finished,
)
from har_finetune.run_folder.files import (
    CLASS_REPORT,
    MODEL_CONFIG,
    NEAR_DUPLICATES,
    PREDICTIONS,
    RESULTS,
    RUN_CONFIG,
    SPLIT,
    TRAINER_STATE,
    VERSIONS,
    ZERO_SHOT_RESULTS,
    is_run_folder,
    read_json_or_none,
)
from har_finetune.run_folder.identity import recorded_identity
from har_finetune.run_folder.probabilities import TestProbabilities, read_probabilities

# Display names for `model_type`; the one place that knows the model families on the reading side.
DISPLAY_NAMES = {"clip": "CLIP", "siglip": "SigLIP", "siglip2": "SigLIP2"}
# Rows of scikit-learn's classification report that are not classes.
SUMMARY_ROWS = {"accuracy", "macro avg", "weighted avg", "micro avg", "samples avg"}


class RunFolderError(UserError):
    """A run folder file is missing, empty or unreadable; the message says which file and what to do."""


def not_a_folder(run_dir: Path) -> str:
    """A run folder path that is no folder: missing ("no such folder", as training says) or a file."""
    if not run_dir.exists():
        return missing_path_message("", run_dir, "a run folder written by training")
    return f"{run_dir} is not a folder: pass a run folder written by training"


class NothingLoggedYet(RunFolderError):
    """No trainer_state.json yet, in the run folder or a complete checkpoint-N/: a run in progress (started, or
    interrupted before its first complete checkpoint), not a broken one: readers note it."""


def read_json(path: Path) -> dict:
    """Load a JSON object, raising `RunFolderError` with the path when it is empty or not valid JSON."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise RunFolderError(f"{path} is empty: it was probably cut short while being written; rerun or delete it")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{path} is not valid JSON ({e}); rerun or delete it") from e
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} holds a {type(data).__name__}, expected a JSON object")
    return data


def read_optional_json(path: Path) -> dict | None:
    """`read_json`, or None when the file does not exist."""
    return read_json(path) if Path(path).is_file() else None


def read_optional_csv(path: Path) -> pd.DataFrame | None:
    """Load a CSV as strings-where-possible, or None when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        raise RunFolderError(f"{path} is empty or not a valid CSV ({e})") from e


def trainer_state_path(run_dir: Path) -> Path:
    """`RUN_DIR/trainer_state.json`, or while training runs, that of the newest complete `checkpoint-N/` (the one
    being written may hold a half-written state: checkpoints.checkpoint_problem, as resuming uses)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(not_a_folder(run_dir))
    top = run_dir / TRAINER_STATE
    if top.exists():
        return top
    complete = next((p for p in numbered_checkpoints(run_dir) if checkpoint_problem(p) is None), None)
    if complete is None:
        raise NothingLoggedYet(
            f"no trainer_state.json in {run_dir} or a complete checkpoint-N/ yet: has training started? (a run "
            "interrupted before its first complete checkpoint starts again when its command is run again)"
        )
    return complete / TRAINER_STATE


def load_log_history(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Split Trainer's `log_history` into training rows and evaluation rows.

    Returns:
        (train, evals, state): `train` has the rows with `loss` (columns step, epoch, loss and, when logged,
        learning_rate, grad_norm); `evals` the rows with an `eval_*` key; `state` the whole trainer_state.json.
    """
    path = trainer_state_path(run_dir)
    state = read_json(path)
    history = state.get("log_history")
    if not isinstance(history, list):
        raise RunFolderError(f"{path} has no log_history list: is it a Trainer state file?")
    # Rows after Trainer's summary ("train_runtime") re-evaluate the kept model, which may be an earlier epoch's:
    # plotting them at the last epoch would be wrong.
    end = next((i for i, row in enumerate(history) if "train_runtime" in row), len(history))
    train = pd.DataFrame([row for row in history[:end] if "loss" in row])
    evals = pd.DataFrame([row for row in history[:end] if any(k.startswith("eval_") for k in row)])
    if "step" in evals.columns:
        evals = evals.drop_duplicates(subset="step", keep="first").reset_index(drop=True)
    return train, evals, state


def model_name(run_dir: Path) -> str:
    """Display name of the run's model (`CLIP`, `SigLIP`, ...) from its files; the folder name as a last resort.

    run_config.json's `model_type` (written before training) comes first, so the name is the same while the run
    trains and once it has finished."""
    run_dir = Path(run_dir)
    sources = (
        (RUN_CONFIG, "model_type"),
        (RESULTS, "model_type"),
        (MODEL_CONFIG, "model_type"),
        (RUN_CONFIG, "family"),
    )
    for file, key in sources:
        path = run_dir / file
        if path.is_file():
            try:
                value = read_json(path).get(key)
            except RunFolderError:
                continue
            if value:
                return DISPLAY_NAMES.get(str(value), str(value))
    return run_dir.resolve().name


def label_order(model_config: dict | None) -> list[str]:
    """A saved model's class names in label-id order (config.json's id2label: "10" sorts after "2"); [] for none."""
    id2label = (model_config or {}).get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def saved_class_names(model_folder: str | Path) -> list[str]:
    """The class names a saved model or checkpoint was trained on, in label-id order; [] when its config.json is
    missing or unreadable (nothing to compare with)."""
    config = read_json_or_none(Path(model_folder) / MODEL_CONFIG)
    return label_order(config if isinstance(config, dict) else None)


def class_names(run_dir: Path, predictions: pd.DataFrame | None = None) -> list[str]:
    """HAR class names in label-id order (config.json's id2label), else the report's order, else sorted."""
    run_dir = Path(run_dir)
    saved = label_order(read_optional_json(run_dir / MODEL_CONFIG))
    if saved:
        return saved
    report = read_optional_csv(run_dir / CLASS_REPORT)
    if report is not None and "class" in report.columns:
        return [str(c) for c in report["class"] if str(c) not in SUMMARY_ROWS]
    if predictions is not None:
        return sorted(set(predictions["label"].astype(str)) | set(predictions["prediction"].astype(str)))
    raise RunFolderError(f"cannot tell the class names of {run_dir}: no config.json, report or predictions")


def load_predictions(run_dir: Path) -> pd.DataFrame | None:
    """`test_predictions.csv` with id/label/prediction as strings and confidence as float, or None."""
    path = Path(run_dir) / PREDICTIONS
    frame = read_optional_csv(path)
    if frame is None:
        return None
    missing = {"id", "label", "prediction"} - set(frame.columns)
    if missing:
        raise RunFolderError(f"{path} lacks columns {sorted(missing)}; expected id,label,prediction,confidence")
    for column in ("id", "label", "prediction"):
        frame[column] = frame[column].astype(str)
    if "confidence" in frame.columns:
        frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
    return frame


def dataset_name(dataset: dict) -> str | None:
    """How reports name a run's dataset (run_config.json "dataset"): a Hub id as is, a local folder by its name."""
    root = (dataset or {}).get("root")
    if not root:
        return None
    return str(root) if dataset.get("kind") == "hub" else Path(root).name


@dataclass(frozen=True)
class RunRecord:
    """One run folder, read: settings and identity (run_config.json), results (all_results.json), split,
    predictions, per-class report, zero-shot baseline and training history. Missing files read as None."""

    run_dir: Path

    @classmethod
    def load(cls, run_dir: str | Path) -> RunRecord:
        """The record of `run_dir`; a `RunFolderError` naming the folder when it is not a run of this tool."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunFolderError(not_a_folder(run_dir))
        if not is_run_folder(run_dir):
            raise RunFolderError(
                f"{run_dir} is not a run folder (no run_config.json, all_results.json, trainer_state.json or "
                "checkpoint-N/): pass a folder written by fine_tune_har_clip.py / fine_tune_har_siglip.py"
            )
        return cls(run_dir)

    @property
    def finished(self) -> bool:
        return run_is_finished(self.run_dir)

    @property
    def checkpoint_epoch(self) -> float:
        """Epochs trained by the newest complete checkpoint-N (0 before the first): how far an unfinished run got."""
        return checkpoint_epoch(latest_complete_checkpoint(self.run_dir, warn_skipped=False))

    @cached_property
    def config(self) -> dict:
        """run_config.json ({} for folders written before it existed)."""
        return read_optional_json(self.run_dir / RUN_CONFIG) or {}

    @cached_property
    def results(self) -> dict:
        """all_results.json ({} while the run is not finished)."""
        return read_optional_json(self.run_dir / RESULTS) or {}

    @cached_property
    def versions(self) -> dict:
        """versions.json: the library versions the run started with."""
        return read_optional_json(self.run_dir / VERSIONS) or {}

    @cached_property
    def zero_shot_results(self) -> dict | None:
        return read_optional_json(self.run_dir / ZERO_SHOT_RESULTS)

    @cached_property
    def model_config(self) -> dict | None:
        """The saved model's config.json (None before the final model is saved)."""
        return read_optional_json(self.run_dir / MODEL_CONFIG)

    @property
    def has_model(self) -> bool:
        return (self.run_dir / MODEL_CONFIG).is_file()

    @property
    def is_ours(self) -> bool:
        """run_config.json is there: training wrote this folder (a stock Trainer's output has none)."""
        return (self.run_dir / RUN_CONFIG).is_file()

    @property
    def has_zero_shot_baseline(self) -> bool:
        return (self.run_dir / ZERO_SHOT_RESULTS).is_file()

    @cached_property
    def identity(self) -> dict:
        """The settings that define the run's result (identity.py); for folders written before identities were
        recorded, the defining flags of its saved settings; {} when it records no settings."""
        return recorded_identity(self.config)

    @property
    def seed(self) -> object | None:
        return self.identity.get("seed")

    @property
    def configuration(self) -> dict | None:
        """The identity without the seed: what the runs of one configuration (a seed group) share; None when the
        folder records no settings (it cannot be told apart from another configuration)."""
        return {key: value for key, value in self.identity.items() if key != "seed"} or None

    @property
    def data_version(self) -> str | None:
        """Which data the run saw: the decoded content's fingerprint, else (older folders) the dataset's root."""
        return self.identity.get("dataset_fingerprint") or self.dataset.get("root")

    @property
    def dataset(self) -> dict:
        """Where the data came from: kind ("folder", "kaggle", "hub"), root, image and label columns."""
        return self.config.get("dataset") or {}

    @property
    def dataset_name(self) -> str | None:
        return dataset_name(self.dataset)

    @property
    def model_name(self) -> str:
        return model_name(self.run_dir)

    @cached_property
    def predictions(self) -> pd.DataFrame | None:
        return load_predictions(self.run_dir)

    @cached_property
    def probabilities(self) -> TestProbabilities | None:
        """test_probabilities.csv (None for run folders written before it existed)."""
        try:
            return read_probabilities(self.run_dir)
        except ValueError as e:
            raise RunFolderError(str(e)) from e

    @cached_property
    def split(self) -> pd.DataFrame | None:
        """split.csv: id, label, split ("train" / "validation" / "test"), as strings."""
        frame = read_optional_csv(self.run_dir / SPLIT)
        return None if frame is None else frame.astype(str)

    @cached_property
    def near_duplicates(self) -> pd.DataFrame | None:
        """near_duplicates.csv: group, id, label, distance (None for runs from before near-duplicate groups)."""
        frame = read_optional_csv(self.run_dir / NEAR_DUPLICATES)
        return None if frame is None else frame.astype({"id": str, "label": str})

    @property
    def near_duplicate_counts(self) -> tuple[int, int] | None:
        """(groups, images) kept on one side of the split: all_results.json's counts, else near_duplicates.csv's."""
        if "num_near_duplicate_groups" in self.results:
            return int(self.results["num_near_duplicate_groups"]), int(self.results["num_near_duplicate_images"])
        frame = self.near_duplicates
        return None if frame is None else (int(frame["group"].nunique()), len(frame))

    def test_images(self) -> pd.DataFrame | None:
        """The test images as id/label: test_predictions.csv's rows, else split.csv's test rows."""
        if self.predictions is not None:
            return self.predictions
        if self.split is None:
            return None
        return self.split[self.split["split"] == "test"][["id", "label"]].reset_index(drop=True)

    @cached_property
    def class_report(self) -> pd.DataFrame | None:
        return read_optional_csv(self.run_dir / CLASS_REPORT)

    @cached_property
    def split_fingerprint(self) -> str | None:
        """The recorded split fingerprint, else the first 16 hex digits of the SHA-256 of split.csv's bytes."""
        recorded = self.results.get("split_fingerprint") or self.config.get("split_fingerprint")
        if recorded:
            return str(recorded)
        path = self.run_dir / SPLIT
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None

    def class_names(self) -> list[str]:
        return class_names(self.run_dir, self.predictions)

    def log_history(self) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        return load_log_history(self.run_dir)
