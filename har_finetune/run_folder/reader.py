"""Read a run folder (docs/run_folder.md) for plotting, visualising and reporting.

Used by `python plot_metrics.py RUN_DIR ...` and `python visualize_predictions.py RUN_DIR ...`. Reads only files;
never imports training code, torch or transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import checkpoint_problem, numbered_checkpoints
from har_finetune.run_folder.files import CLASS_REPORT, MODEL_CONFIG, PREDICTIONS, RESULTS, RUN_CONFIG, TRAINER_STATE

# Display names for `model_type`; the one place that knows the model families on the reading side.
DISPLAY_NAMES = {"clip": "CLIP", "siglip": "SigLIP", "siglip2": "SigLIP2"}
# Rows of scikit-learn's classification report that are not classes.
SUMMARY_ROWS = {"accuracy", "macro avg", "weighted avg", "micro avg", "samples avg"}


class RunFolderError(UserError):
    """A run folder file is missing, empty or unreadable; the message says which file and what to do."""


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
        raise RunFolderError(f"{run_dir} is not a folder: pass a run folder written by training")
    top = run_dir / TRAINER_STATE
    if top.exists():
        return top
    complete = next((p for p in numbered_checkpoints(run_dir) if checkpoint_problem(p) is None), None)
    if complete is None:
        raise RunFolderError(f"no trainer_state.json in {run_dir} or its checkpoint-N/ folders: has training started?")
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


def class_names(run_dir: Path, predictions: pd.DataFrame | None = None) -> list[str]:
    """HAR class names in label-id order (config.json's id2label), else the report's order, else sorted."""
    run_dir = Path(run_dir)
    config = read_optional_json(run_dir / MODEL_CONFIG)
    if config and config.get("id2label"):
        id2label = config["id2label"]
        return [id2label[k] for k in sorted(id2label, key=int)]
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
