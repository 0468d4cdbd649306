"""What the report compares: a run scored on its test images (`ScoredRun`), and a unit of the comparison (`Unit`:
one run, or the seeds of one configuration). Values only; loading.py makes them from run folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from har_finetune.reporting import stats
from har_finetune.run_folder.reader import RunRecord


@dataclass
class ScoredRun:
    """A run with test predictions, sorted by image id."""

    name: str
    run_dir: Path
    model: str  # display name of the family (CLIP, SigLIP, ...)
    predictions: pd.DataFrame
    macro_f1: float
    identity: dict | None
    split: str | None  # split fingerprint
    data: str | None  # dataset fingerprint, else dataset root
    seed: object = None  # run_config.json identity's seed
    record: RunRecord | None = field(default=None, repr=False, compare=False)  # the report's one read of the folder

    @property
    def fingerprint(self) -> str | None:
        """The dataset's content fingerprint when recorded (a dataset root alone says nothing about content)."""
        return (self.identity or {}).get("dataset_fingerprint")

    @property
    def test_images(self) -> tuple[tuple[str, str], ...]:
        """(id, label) of each test image, sorted by id."""
        return tuple(zip(self.predictions["id"], self.predictions["label"]))

    @property
    def correct(self) -> np.ndarray:
        return (self.predictions["label"] == self.predictions["prediction"]).to_numpy()

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.predictions["id"])


@dataclass
class Unit:
    """A single run, or the seeds of one configuration."""

    name: str
    runs: list[ScoredRun]
    elsewhere: list[ScoredRun] = field(default_factory=list)  # seeds of the same settings on other test images

    @property
    def is_group(self) -> bool:
        return len(self.runs) > 1

    @property
    def ids(self) -> tuple[str, ...] | None:
        """The test images, or None when the seeds were scored on different images (they cannot be averaged)."""
        ids = {run.ids for run in self.runs}
        return ids.pop() if len(ids) == 1 else None

    @property
    def test_images(self) -> tuple[tuple[str, str], ...] | None:
        images = {run.test_images for run in self.runs}
        return images.pop() if len(images) == 1 else None

    def matrix(self) -> np.ndarray:
        """Correctness (0/1) of each seed (rows) on each test image (columns, sorted by id)."""
        return np.array([run.correct for run in self.runs], float)

    @property
    def accuracy(self) -> float:
        return float(np.mean([run.accuracy for run in self.runs]))


def pooled_calibration(runs: list[ScoredRun]) -> stats.Calibration | None:
    """Calibration of the runs' test predictions pooled (a group's seeds: Table 3's ECE); None without confidences."""
    with_confidence = [run for run in runs if "confidence" in run.predictions.columns]
    if not with_confidence:
        return None
    confidence = np.concatenate([run.predictions["confidence"].to_numpy(float) for run in with_confidence])
    correct = np.concatenate([run.correct for run in with_confidence])
    keep = np.isfinite(confidence)
    return stats.calibration(confidence[keep], correct[keep]) if keep.any() else None
