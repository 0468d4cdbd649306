"""The run folder's one writer: every file training and the report put into a run folder, in the order that keeps
it honest (docs/run_folder.md):

1. once the image scan has accepted the data: `split.csv`, `skipped_images.csv` and `near_duplicates.csv`
   (`write_split`: a resumed run must keep its split), then `run_config.json` (settings, identity with the data
   fingerprints, the split's fingerprint) and `versions.json` (`write_run_config`);
2. `--zero_shot` only, before training: `zero_shot_predictions.csv` and `zero_shot_results.json`;
3. the final model files and `trainer_state.json`, swapped in from a staging folder once all of them are written;
4. the per-image and per-class tables, the model card (`README.md`), then `all_results.json` last: its presence
   means the run finished;
5. any time later: the run's figures in `plots/` (reporting/run_figures.py draws them).

Every file is written atomically (files.py). Torch-free: the model files and Trainer's state are written by
callables the caller passes (Trainer's `save_model` and `state.save_to_json`), into paths chosen here.
"""

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import numbered_checkpoints
from har_finetune.run_folder.files import (
    CLASS_REPORT,
    FINAL_STAGING,
    MODEL_CARD,
    NEAR_DUPLICATES,
    PLOTS,
    PREDICTIONS,
    PROBABILITIES,
    RESULTS,
    RUN_CONFIG,
    SKIPPED,
    SPLIT,
    TRAINER_STATE,
    VERSIONS,
    ZERO_SHOT_PREDICTIONS,
    ZERO_SHOT_RESULTS,
    read_json_or_none,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)


def write_run_config(run_dir: Path, run_config: dict, versions: dict | None = None) -> None:
    write_json(run_dir / RUN_CONFIG, run_config)
    if versions is not None:
        write_json(run_dir / VERSIONS, versions)


def split_fingerprint(split_csv: str) -> str:
    """First 16 hex digits of the SHA-256 of split.csv's bytes: runs with the same one were tested on the same
    images (and trained and validated on the same others)."""
    return hashlib.sha256(split_csv.encode("utf-8")).hexdigest()[:16]


def write_split(
    run_dir: Path, table: pd.DataFrame, skipped: pd.DataFrame, near_duplicates: pd.DataFrame | None = None
) -> str:
    """split.csv, skipped_images.csv and near_duplicates.csv (group, id, label, distance); returns the split
    fingerprint.

    A run that has checkpoints already trained on the split its run_config.json records: it must resume on the same
    images, so a different split stops it instead of replacing the file. Without checkpoints nothing was trained yet
    and the split may change (with the settings: the identity check allowed it)."""
    text = table.to_csv(index=False)
    fingerprint = split_fingerprint(text)
    recorded = _recorded_split(run_dir) if numbered_checkpoints(run_dir) else None
    if recorded and recorded != fingerprint:
        raise UserError(
            f"the split computed now differs from the one {run_dir} trained on ({SPLIT}: {recorded}, now "
            f"{fingerprint}), though its settings are the same (other library versions? see {VERSIONS}); resume "
            "it with the versions it started with, or choose a new --output_dir"
        )
    write_text(run_dir / SPLIT, text)
    write_text(run_dir / SKIPPED, skipped.to_csv(index=False))
    if near_duplicates is not None:
        write_text(run_dir / NEAR_DUPLICATES, near_duplicates.to_csv(index=False))
    return fingerprint


def _recorded_split(run_dir: Path) -> str | None:
    config = read_json_or_none(run_dir / RUN_CONFIG)
    return config.get("split_fingerprint") if isinstance(config, dict) else None


def write_zero_shot(run_dir: Path, results: dict, predictions: pd.DataFrame) -> None:
    """The zero-shot baseline (`--zero_shot`): its predictions (test_predictions.csv's format), then its results."""
    write_csv(run_dir / ZERO_SHOT_PREDICTIONS, predictions)
    write_json(run_dir / ZERO_SHOT_RESULTS, results)


def replace_model_files(run_dir: Path, save_model: Callable[[Path], None], save_state: Callable[[Path], None]) -> None:
    """`save_model(staging)` writes the final model files and `save_state(path)` Trainer's state; each file replaces
    its old version only once all are written.

    Killed or out of disk space while writing: the staging folder holds the partial files (removed on the next
    try) and the files in `run_dir` are the previous ones; without `all_results.json` the run does not count as
    finished, so the next run redoes this step from the kept checkpoint.
    """
    staging = run_dir / FINAL_STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left over by a run killed while saving
    try:
        save_model(staging)
        save_state(staging / TRAINER_STATE)
        files = sorted(p for p in staging.iterdir() if p.is_file())
        for path in files:
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        names = {p.name for p in files}
        for stale in run_dir.glob("model*.safetensors*"):  # shards of an earlier, differently sharded save
            if stale.name not in names:
                stale.unlink()
        for path in files:
            os.replace(path, run_dir / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_test_predictions(
    run_dir: Path, predictions: pd.DataFrame, class_report: pd.DataFrame, probabilities: pd.DataFrame
) -> None:
    """test_predictions.csv (one row per test image), test_probabilities.csv (id, then one column per class:
    core.metrics.probabilities_table) and classification_report.csv (one row per class)."""
    write_csv(run_dir / PREDICTIONS, predictions)
    write_csv(run_dir / PROBABILITIES, probabilities)
    write_csv(run_dir / CLASS_REPORT, class_report)


def write_card(run_dir: Path, text: str) -> Path:
    """README.md, the model card (reporting/model_card.py writes its text): before all_results.json."""
    return write_text(run_dir / MODEL_CARD, text)


def write_results(run_dir: Path, results: dict) -> None:
    """all_results.json: written last, its presence marks the run finished."""
    write_json(run_dir / RESULTS, results)


def write_run_figure(run_dir: Path, name: str, png: bytes) -> Path:
    """One of the run's figures (files.FIGURES) into RUN_DIR/plots/."""
    return write_bytes(Path(run_dir) / PLOTS / name, png)
