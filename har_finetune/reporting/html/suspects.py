"""Suspect labels: test images whose given label is likely wrong, found by cleanlab from the runs' test
probabilities (test_probabilities.csv) averaged over the runs that scored the same test images.

Test probabilities are out of sample for every run (no run trained on its test images), which is what cleanlab asks
for. The list: every image `cleanlab.filter.find_label_issues` flags, by confident learning (its default,
`prune_by_noise_rate`: marked on the page) or because the pooled prediction is not the given label
(`filter_by="predicted_neq_given"`), ranked by `cleanlab.rank.get_label_quality_scores` (self-confidence: the pooled
probability of the given label; lowest first). Why both: with few mislabelled images, confident learning's
estimate of the noise rate comes out low and it flags only some of them (tests/test_html_report.py: 2 of 6 planted
mistakes among 600 images), while the ranking puts all of them first. These are candidates to check by eye, not
proven errors: the page says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from har_finetune.reporting.scored import ScoredRun
from har_finetune.run_folder.files import PREDICTIONS, PROBABILITIES
from har_finetune.run_folder.probabilities import TestProbabilities


@dataclass(frozen=True)
class Suspect:
    rank: int
    id: str
    label: str
    quality: float  # the pooled probability of the given label (cleanlab's self-confidence)
    confident: bool  # flagged by confident learning too, not only by the pooled prediction


@dataclass
class Suspects:
    """The ranked suspects, or the reason there are none to show (`missing`)."""

    rows: list[Suspect] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # the runs whose probabilities were pooled
    missing: str = ""
    notes: list[str] = field(default_factory=list)


def pooled(runs: list[ScoredRun], probabilities: dict[str, TestProbabilities | None]) -> tuple[list, list[str]]:
    """The runs to pool: the largest set that has probabilities over the same test images and classes."""
    keyed: dict[tuple, list[tuple[ScoredRun, TestProbabilities]]] = {}
    for run in runs:
        table = probabilities.get(run.name)
        if table is not None:
            keyed.setdefault((frozenset(table.ids), table.classes), []).append((run, table))
    if not keyed:
        return [], []
    best = max(keyed.values(), key=len)
    left_out = [run.name for run in runs if run.name not in {r.name for r, _ in best}]
    return best, left_out


def find_suspects(runs: list[ScoredRun], probabilities: dict[str, TestProbabilities | None]) -> Suspects:
    """cleanlab's label issues over the runs' pooled test probabilities, most suspect first."""
    members, left_out = pooled(runs, probabilities)
    if not members:
        return Suspects(
            missing=f"No run folder here has {PROBABILITIES} (runs trained before the report showed suspect labels "
            f"write only {PREDICTIONS}), so cleanlab has no probabilities to work from. Runs trained with this "
            "version write it."
        )
    classes = list(members[0][1].classes)
    ids = sorted(members[0][1].ids)
    pred_probs = np.mean([_aligned(table, ids) for _, table in members], axis=0)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)  # the CSV's 6 decimals leave rows a hair off 1
    label_of = dict(zip(members[0][0].predictions["id"], members[0][0].predictions["label"]))
    unknown = sorted({label_of[i] for i in ids} - set(classes))
    names = [run.name for run, _ in members]
    if unknown:
        return Suspects(runs=names, missing=f"Labels {unknown} are not among the probability columns.")
    labels = np.array([classes.index(label_of[i]) for i in ids])
    try:
        chosen, confident, quality = _label_issues(labels, pred_probs)
    except (ValueError, IndexError) as e:  # e.g. too few images per class for confident learning
        return Suspects(runs=names, missing=f"cleanlab could not rank these test images ({e}).")
    rows = [
        Suspect(k, ids[i], classes[labels[i]], float(quality[i]), bool(confident[i])) for k, i in enumerate(chosen, 1)
    ]
    notes = [f"Not pooled (other test images or classes, or no {PROBABILITIES}): {', '.join(left_out)}."]
    return Suspects(rows, names, notes=notes if left_out else [])


def _aligned(table: TestProbabilities, ids: list[str]) -> np.ndarray:
    row = {image_id: k for k, image_id in enumerate(table.ids)}
    return table.values[[row[i] for i in ids]]


def _label_issues(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Indices cleanlab flags, ranked by label quality (lowest first); which confident learning flags; every
    image's quality score."""
    from cleanlab.filter import find_label_issues  # ~2 s to import: only when a report has probabilities
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(labels, pred_probs, method="self_confidence")
    with warnings.catch_warnings():  # "may not flag all label issues in class k": why the list takes both filters
        warnings.filterwarnings("ignore", message="May not flag all label issues", category=UserWarning)
        confident = find_label_issues(labels, pred_probs, n_jobs=1)  # n_jobs=1: no worker processes on a shared node
        disagree = find_label_issues(labels, pred_probs, filter_by="predicted_neq_given", n_jobs=1)
    chosen = sorted(np.flatnonzero(confident | disagree), key=lambda i: (quality[i], i))
    return [int(i) for i in chosen], confident, quality
