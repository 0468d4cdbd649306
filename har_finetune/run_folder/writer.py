"""Writes of the run folder, in the order that keeps it honest (docs/run_folder.md):

1. once the image scan has accepted the data: `split.csv` and `skipped_images.csv`, then `run_config.json`
   (settings, identity with the data fingerprints, the split's fingerprint) and `versions.json`;
2. the final model files, swapped in from a staging folder once all of them are written;
3. the per-image and per-class tables and the model card, then `all_results.json` last: its presence means the
   run finished.

Every file is written atomically (files.py). Torch-free: the model files are written by a callable the caller
passes (Trainer's `save_model`).
"""

import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import run_is_finished
from har_finetune.run_folder.files import (
    FINAL_STAGING,
    PROBABILITIES,
    RESULTS,
    RUN_CONFIG,
    SKIPPED,
    SPLIT,
    VERSIONS,
    read_json_or_none,
    write_csv,
    write_json,
    write_text,
)
from har_finetune.run_folder.identity import DATA_KEYS, changed_keys, differences, recorded_identity

logger = logging.getLogger(__name__)


def check_rerun(run_dir: Path, identity: dict) -> bool:
    """Whether `run_dir` holds a finished run of this identity (nothing left to do).

    Raises a one-line `UserError` when it holds a run (finished or not) whose recorded identity differs in a key
    that `identity` has: resuming it with other settings would mix two runs (e.g. re-split the data with another
    seed and test on former training images). A finished run whose data alone changed says that its results are
    of the older data."""
    config = read_json_or_none(run_dir / RUN_CONFIG)
    finished = run_is_finished(run_dir)
    recorded = recorded_identity(config) if isinstance(config, dict) else {}
    changed = differences(recorded, identity)
    if not changed:
        return finished
    what = "; ".join(changed)
    if finished and set(changed_keys(recorded, identity)) <= set(DATA_KEYS):
        raise UserError(
            f"--output_dir {run_dir} holds a finished run of older data ({what} since): its results are of the "
            "data as it was; nothing was trained: choose a new --output_dir to train on the data as it is now"
        )
    if finished:
        raise UserError(
            f"--output_dir {run_dir} holds a finished run with other settings ({what}); nothing was trained: choose "
            "a new --output_dir for these settings"
        )
    raise UserError(
        f"--output_dir {run_dir} holds an unfinished run with other settings ({what}); rerun its original command "
        "to resume it (see its run_config.json), or choose a new --output_dir for these settings"
    )


def write_run_config(run_dir: Path, run_config: dict, versions: dict | None = None) -> None:
    write_json(run_dir / RUN_CONFIG, run_config)
    if versions is not None:
        write_json(run_dir / VERSIONS, versions)


def split_fingerprint(split_csv: str) -> str:
    """First 16 hex digits of the SHA-256 of split.csv's bytes: runs with the same one were tested on the same
    images (and trained and validated on the same others)."""
    return hashlib.sha256(split_csv.encode("utf-8")).hexdigest()[:16]


def write_split(run_dir: Path, table: pd.DataFrame, skipped: pd.DataFrame, recorded: str | None) -> str:
    """split.csv and skipped_images.csv; returns the split fingerprint.

    `recorded` is the fingerprint of the split this run already trained on (run_config.json), if any: a resumed
    run must train and test on the same images, so a different split stops it instead of replacing the file."""
    text = table.to_csv(index=False)
    fingerprint = split_fingerprint(text)
    if recorded and recorded != fingerprint:
        raise UserError(
            f"the split computed now differs from the one {run_dir} trained on ({SPLIT}: {recorded}, now "
            f"{fingerprint}), though its settings are the same (other library versions? see {VERSIONS}); resume "
            "it with the versions it started with, or choose a new --output_dir"
        )
    write_text(run_dir / SPLIT, text)
    write_text(run_dir / SKIPPED, skipped.to_csv(index=False))
    return fingerprint


def recorded_value(run_dir: Path, key: str) -> object | None:
    config = read_json_or_none(run_dir / RUN_CONFIG)
    return config.get(key) if isinstance(config, dict) else None


def replace_model_files(run_dir: Path, save: Callable[[Path], None]) -> None:
    """`save(staging)` writes the final model files; each replaces its old version only once all are written.

    Killed or out of disk space while writing: the staging folder holds the partial files (removed on the next
    try) and the files in `run_dir` are the previous ones; without `all_results.json` the run does not count as
    finished, so the next run redoes this step from the kept checkpoint.
    """
    staging = run_dir / FINAL_STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left over by a run killed while saving
    try:
        save(staging)
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


def write_probabilities(run_dir: Path, table: pd.DataFrame) -> None:
    """test_probabilities.csv: id, then one column per class (core.metrics.probabilities_table)."""
    write_csv(run_dir / PROBABILITIES, table)


def write_results(run_dir: Path, results: dict) -> None:
    """all_results.json: written last, its presence marks the run finished."""
    write_json(run_dir / RESULTS, results)
