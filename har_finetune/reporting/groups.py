"""Which runs are seeds of one configuration, which can be paired, and the comparisons REPORT.md shows for them.

Used by `python plot_metrics.py RUN_DIR|CAMPAIGN_DIR ... --out DIR` (report.py); reads only run folders.

- A *unit* is a single run or a group of seeds: runs whose settings differ only in `--seed` (run_config.json
  "identity" without "seed"; for older run folders, the model/data/training settings without seed, folders and
  logging) scored on the same test images. Two folders with the same identity, seed included (a seed folder
  copied), count once, with a warning naming both.
- Two units are *paired* when they were scored on the same test images: the same ids with the same labels, whatever
  the validation carve (and, where recorded, the same dataset content fingerprint). Others are listed with the
  reason (how many ids or labels differ, one example), never compared: their accuracies differ by the images drawn
  as well as by the models.
- A pair gets verdicts.compare_pair: a configuration-level verdict for groups of enough seeds, a verdict on these
  trained models, and what the pair could detect.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from har_finetune.core import metrics
from har_finetune.reporting import verdicts
from har_finetune.reporting.verdicts import Pair
from har_finetune.run_folder import reader as rr

# Settings that do not change a run's result: left out when run_config.json has no "identity" (older run folders).
NOT_IDENTITY = {"seed", "output_dir", "logging_dir", "run_name", "overwrite_output_dir", "report_to", "disable_tqdm",
                "resume_from_checkpoint", "save_total_limit", "per_device_eval_batch_size", "local_rank",
                "use_cpu"}  # fmt: skip
NOT_IDENTITY_PREFIXES = ("_", "logging_", "hub_", "push_to_hub", "save_", "dataloader_", "pixel_cache", "ddp_")


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


@dataclass
class Comparison:
    runs: list[ScoredRun]
    units: list[Unit]
    pairs: list[Pair] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)  # why some units were not compared
    warnings: list[str] = field(default_factory=list)  # e.g. the same seed twice


def run_identity(config: dict) -> dict | None:
    """The settings that define the run's result, without the seed; None when the folder does not record them."""
    if isinstance(config.get("identity"), dict):
        return {k: v for k, v in config["identity"].items() if k != "seed"}
    sections = [config.get(name) for name in ("model_args", "data_args", "training_args")]
    if not all(isinstance(section, dict) for section in sections):
        return None
    return {
        key: value
        for section in sections
        for key, value in section.items()
        if key not in NOT_IDENTITY and not key.startswith(NOT_IDENTITY_PREFIXES)
    }


def split_fingerprint(run_dir: Path, results: dict, config: dict) -> str | None:
    """The recorded split fingerprint, else the first 16 hex digits of the SHA-256 of split.csv's bytes."""
    recorded = results.get("split_fingerprint") or config.get("split_fingerprint")
    if recorded:
        return str(recorded)
    path = Path(run_dir) / "split.csv"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def score_run(name: str, run_dir: Path) -> ScoredRun | None:
    """The run's test results, or None when it has no test predictions yet (unfinished)."""
    predictions = rr.load_predictions(run_dir)
    if predictions is None or predictions.empty:
        return None
    predictions = predictions.sort_values("id", kind="stable").reset_index(drop=True)
    results = rr.read_optional_json(Path(run_dir) / "all_results.json") or {}
    config = rr.read_optional_json(Path(run_dir) / "run_config.json") or {}
    macro_f1 = results.get("test_macro_f1")
    if macro_f1 is None:
        macro_f1 = metrics.macro_f1(predictions["label"], predictions["prediction"])
    identity = run_identity(config)
    data = (identity or {}).get("dataset_fingerprint") or (config.get("dataset") or {}).get("root")
    split = split_fingerprint(run_dir, results, config)
    seed = (config.get("identity") or {}).get("seed") if isinstance(config.get("identity"), dict) else None
    model = rr.model_name(run_dir)
    return ScoredRun(name, Path(run_dir), model, predictions, float(macro_f1), identity, split, data, seed)


def _score_or_skip(name: str, run_dir: Path) -> ScoredRun | None:
    try:
        return score_run(name, run_dir)
    except (rr.RunFolderError, OSError):  # plot_run has reported the broken file; compare the others
        return None


def group_seeds(runs: list[ScoredRun]) -> tuple[list[Unit], list[str]]:
    """One unit per configuration (runs differing only in seed, on the same test images), in the order first seen;
    and a warning for each run dropped as a second copy of a seed already there (same identity, seed included)."""
    buckets: dict[str, list[ScoredRun]] = {}
    warnings = []
    for run in runs:
        if run.identity is None:  # settings unknown: it cannot be told apart from another configuration
            key = "run:" + str(run.run_dir.resolve())
        else:
            key = json.dumps([run.identity, run.data, _digest(run.test_images)], sort_keys=True, default=str)
        members = buckets.setdefault(key, [])
        twin = next((m for m in members if run.seed is not None and m.seed == run.seed), None)
        if twin is None:
            members.append(run)
        else:
            warnings.append(
                f"{twin.name} (`{twin.run_dir}`) and {run.name} (`{run.run_dir}`) have the same settings and seed "
                f"({run.seed}): a copy of one run, counted once (as {twin.name})"
            )
    units = [Unit(members[0].name, members) for members in buckets.values()]
    _name_groups(units)
    return units, warnings


def _digest(images: tuple) -> str:
    return hashlib.sha256(json.dumps(images).encode()).hexdigest()[:16]


def _name_groups(units: list[Unit]) -> None:
    """Groups are named after the model, plus the settings that differ from a same-model group, plus n."""
    groups = [u for u in units if u.is_group]
    for unit in groups:
        rivals = [u for u in groups if u is not unit and u.runs[0].model == unit.runs[0].model]
        label = unit.runs[0].model
        if rivals:
            mine = unit.runs[0].identity or {}
            differing = [k for k in mine if any((r.runs[0].identity or {}).get(k) != mine[k] for r in rivals)]
            common = Path(*_common_parts([r.run_dir.resolve() for r in unit.runs])).name
            label += " " + (", ".join(f"{k}={mine[k]}" for k in differing[:3]) if differing else common)
        unit.name = f"{label} (n={len(unit.runs)})"


def _common_parts(paths: list[Path]) -> list[str]:
    parts = [p.parts for p in paths]
    return [first for first, *rest in zip(*parts) if all(x == first for x in rest)]


def why_not_paired(a: Unit, b: Unit) -> str | None:
    """None when the two units were scored on the same test images (ids and labels); else the reason, in words."""
    for unit in (a, b):
        if unit.test_images is None:
            return f"the seeds of {unit.name} were scored on different test images"
    fingerprints = (a.runs[0].fingerprint, b.runs[0].fingerprint)
    if None not in fingerprints and fingerprints[0] != fingerprints[1]:
        return f"they were trained on different datasets (content fingerprints {fingerprints[0]} vs {fingerprints[1]})"
    return test_images_differ(a.name, dict(a.test_images), b.name, dict(b.test_images))


def test_images_differ(name_a: str, a: dict[str, str], name_b: str, b: dict[str, str]) -> str | None:
    """How two test sets ({id: label}) differ, with one example; None when they are the same."""
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    if only_a or only_b:
        example = f"`{only_a[0]}` only in {name_a}" if only_a else f"`{only_b[0]}` only in {name_b}"
        return (
            f"they were scored on different test images ({len(a):,} vs {len(b):,}; {len(only_a):,} ids only in "
            f"{name_a}, {len(only_b):,} only in {name_b}; e.g. {example}): runs share their test images only with the "
            "same data, --split_seed, test fraction and --max_eval_samples"
        )
    relabelled = sorted(i for i in a if a[i] != b[i])
    if relabelled:
        first = relabelled[0]
        return (
            f"the same {len(a):,} test ids but {len(relabelled):,} with another label (e.g. `{first}`: "
            f"{a[first]!r} in {name_a}, {b[first]!r} in {name_b})"
        )
    return None


def compare(named_runs: list[tuple[str, Path]]) -> Comparison:
    """Score, group and pair the runs (name, folder) that have test predictions."""
    runs = [run for name, run_dir in named_runs if (run := _score_or_skip(name, run_dir)) is not None]
    units, warnings = group_seeds(runs)
    kept = {id(run) for unit in units for run in unit.runs}
    comparison = Comparison([run for run in runs if id(run) in kept], units, warnings=warnings)
    for a, b in itertools.combinations(comparison.units, 2):
        reason = why_not_paired(a, b)
        if reason:
            comparison.unpaired.append(f"{a.name} and {b.name}: {reason}.")
        else:
            comparison.pairs.append(verdicts.compare_pair(a, b))
    verdicts.adjust(comparison.pairs)
    return comparison


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"
