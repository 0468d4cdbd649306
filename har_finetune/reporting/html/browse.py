"""What the page lets a reader browse, as values: each run's confusion matrix whose cells hold their test images,
each class's images that some run got wrong (every run's prediction side by side), and the images every run got
wrong. Built from the report's scored runs (test_predictions.csv through `RunRecord`); nothing here renders.

Page and file names are built from positions (run 3, class 7), never from ids or class names: those come from the
user's files and may hold anything (`../`, `<script>`, quotes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from har_finetune.reporting.scored import ScoredRun


@dataclass(frozen=True)
class Guess:
    """One run's prediction for one test image."""

    prediction: str
    confidence: float | None
    correct: bool  # against the label this run was scored with

    @property
    def percent(self) -> str:
        return "" if self.confidence is None else f"{self.confidence:.0%}"


@dataclass(frozen=True)
class Cell:
    """The test images of one run whose true class is `true` and predicted class `pred` (a confusion cell)."""

    run: str
    true: str
    pred: str
    ids: tuple[str, ...]
    page: str  # relative to the report folder, e.g. cells/r2-t4-p4.html (empty when the cell is empty)

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass
class Matrix:
    """A run's test confusion matrix: `cells[t][p]`, rows the true classes and columns the predicted ones."""

    run: str
    anchor: str  # the run's section id on index.html
    classes: list[str]
    cells: list[list[Cell]]

    def row_total(self, t: int) -> int:
        return sum(cell.count for cell in self.cells[t])


@dataclass
class ClassErrors:
    """The test images of one true class that at least one run got wrong, in id order."""

    name: str
    page: str
    ids: list[str]


@dataclass
class Browse:
    """Everything the browsing views show; `runs` is the column order (the seeds of a group next to each other)."""

    runs: list[str]
    labels: dict[str, str]  # test image id -> its label
    guesses: dict[str, dict[str, Guess]]  # run -> id -> its prediction
    matrices: list[Matrix]
    classes: list[ClassErrors]
    all_wrong: list[str]  # ids every run that scored them got wrong (all runs scored them)
    shared_images: int  # test images every run scored (the all-wrong list looks only at these)
    notes: list[str] = field(default_factory=list)

    def majority(self, image_id: str) -> tuple[str, int, int]:
        """The label most runs predict for the image, how many runs predict it, and how many scored it."""
        votes = Counter(g[image_id].prediction for g in self.guesses.values() if image_id in g)
        label, count = max(votes.items(), key=lambda item: (item[1], item[0] == self.labels.get(image_id)))
        return label, count, sum(votes.values())


def ordered_runs(units) -> list[ScoredRun]:
    """The runs unit by unit: the seeds of one configuration next to each other, in the report's order."""
    return [run for unit in units for run in unit.runs]


def class_order(run_classes: list[str], predictions: pd.DataFrame) -> list[str]:
    """The run's classes in label-id order, then any label or prediction the run's class list lacks (sorted)."""
    seen = set(run_classes)
    extra = sorted((set(predictions["label"]) | set(predictions["prediction"])) - seen)
    return list(run_classes) + extra


def confusion(run: ScoredRun, index: int, classes: list[str]) -> Matrix:
    """The run's matrix; cell pages are `cells/r<run>-t<true>-p<pred>.html` (positions, never names)."""
    position = {name: k for k, name in enumerate(classes)}
    ids: dict[tuple[int, int], list[str]] = {}
    for image_id, label, prediction in run.predictions[["id", "label", "prediction"]].itertuples(index=False):
        ids.setdefault((position[label], position[prediction]), []).append(image_id)
    cells = [
        [
            Cell(run.name, true, pred, tuple(ids.get((t, p), ())), _page(index, t, p, ids))
            for p, pred in enumerate(classes)
        ]
        for t, true in enumerate(classes)
    ]
    return Matrix(run.name, f"run-{index}", classes, cells)


def _page(run: int, t: int, p: int, ids: dict) -> str:
    return f"cells/r{run}-t{t}-p{p}.html" if (t, p) in ids else ""


def guesses_of(run: ScoredRun) -> dict[str, Guess]:
    frame = run.predictions
    confidence = frame["confidence"] if "confidence" in frame.columns else [None] * len(frame)
    return {
        image_id: Guess(prediction, None if c is None or pd.isna(c) else float(c), prediction == label)
        for image_id, label, prediction, c in zip(frame["id"], frame["label"], frame["prediction"], confidence)
    }


def class_errors(runs: list[ScoredRun], classes: list[str]) -> list[ClassErrors]:
    """Per class (in `classes` order), the ids of that class some run got wrong; classes without any are left out."""
    wrong: dict[str, set[str]] = {}
    for run in runs:
        frame = run.predictions[run.predictions["label"] != run.predictions["prediction"]]
        for image_id, label in zip(frame["id"], frame["label"]):
            wrong.setdefault(label, set()).add(image_id)
    return [
        ClassErrors(name, f"classes/c{k}.html", sorted(wrong[name])) for k, name in enumerate(classes) if name in wrong
    ]


def browse(runs: list[ScoredRun], class_lists: dict[str, list[str]]) -> Browse:
    """The browsing views of `runs` (already in column order); `class_lists[run name]`: its classes in label-id
    order (config.json's id2label)."""
    labels: dict[str, str] = {}
    for run in runs:
        labels.update(zip(run.predictions["id"], run.predictions["label"]))
    guesses = {run.name: guesses_of(run) for run in runs}
    matrices = [
        confusion(run, k, class_order(class_lists.get(run.name, []), run.predictions)) for k, run in enumerate(runs, 1)
    ]
    every_class = list(dict.fromkeys(name for m in matrices for name in m.classes))
    shared = set.intersection(*(set(g) for g in guesses.values())) if guesses else set()
    all_wrong = sorted(i for i in shared if not any(g[i].correct for g in guesses.values()))
    notes = []
    if guesses and len(shared) < len(labels):
        notes.append(
            f"The runs were not all scored on the same test images: only the {len(shared):,} images every run scored "
            f"(of {len(labels):,}) can be wrong in every run."
        )
    return Browse(
        [run.name for run in runs], labels, guesses, matrices, class_errors(runs, every_class), all_wrong, len(shared),
        notes,
    )  # fmt: skip
