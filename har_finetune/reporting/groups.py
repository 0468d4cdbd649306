"""Which runs are seeds of one configuration, which can be paired, and the statistics REPORT.md shows for them.

Used by `python plot_metrics.py RUN_DIR|CAMPAIGN_DIR ... --out DIR` (report.py); reads only run folders.

- A *unit* is a single run or a group of seeds: runs whose settings differ only in `--seed` (run_config.json
  "identity" without "seed"; for older run folders, the model/data/training settings without seed, folders and
  logging) over the same split.
- Two units are *paired* when they were scored on the same test images: same split fingerprint (all_results.json or
  run_config.json "split_fingerprint", else the SHA-256 of split.csv), same dataset, same test ids. Units on other
  splits are never paired: their accuracies differ by the images drawn as well as by the models.
- For a pair: the accuracy difference with a paired percentile bootstrap 95% interval over test images; the exact
  McNemar test for two single runs; for groups, each image's correctness is averaged over the seeds and a paired
  sign-flip permutation test is used (the interval then covers test-image sampling; the seed-to-seed spread is the
  group's std). p-values are Holm-adjusted over all pairs of the report.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from har_finetune.reporting import stats
from har_finetune.run_folder import reader as rr

ALPHA = 0.05
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

    def per_image(self) -> np.ndarray:
        """Each test image's correctness (0/1), averaged over the seeds of a group."""
        return np.mean([run.correct for run in self.runs], axis=0)

    @property
    def accuracy(self) -> float:
        return float(np.mean([run.accuracy for run in self.runs]))


@dataclass
class Pair:
    """Two units on the same test images; `better` has the higher accuracy. Differences are fractions (0.05 = 5
    points)."""

    better: Unit
    worse: Unit
    difference: float
    low: float
    high: float
    test: str
    p: float
    discordant: tuple[int, int] | None = None  # images only `better` / only `worse` got right (single runs)
    p_holm: float = float("nan")


@dataclass
class Comparison:
    runs: list[ScoredRun]
    units: list[Unit]
    pairs: list[Pair] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)  # why some units were not compared


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
        from sklearn.metrics import f1_score

        macro_f1 = f1_score(predictions["label"], predictions["prediction"], average="macro", zero_division=0)
    identity = run_identity(config)
    data = (identity or {}).get("dataset_fingerprint") or (config.get("dataset") or {}).get("root")
    split = split_fingerprint(run_dir, results, config)
    return ScoredRun(name, Path(run_dir), rr.model_name(run_dir), predictions, float(macro_f1), identity, split, data)


def _score_or_skip(name: str, run_dir: Path) -> ScoredRun | None:
    try:
        return score_run(name, run_dir)
    except (rr.RunFolderError, OSError):  # plot_run has reported the broken file; compare the others
        return None


def group_seeds(runs: list[ScoredRun]) -> list[Unit]:
    """One unit per configuration (runs differing only in seed, on the same split), in the order first seen."""
    buckets: dict[str, list[ScoredRun]] = {}
    for run in runs:
        if run.identity is None:  # settings unknown: it cannot be told apart from another configuration
            key = "run:" + str(run.run_dir.resolve())
        else:
            key = json.dumps([run.identity, run.split, run.data], sort_keys=True, default=str)
        buckets.setdefault(key, []).append(run)
    units = [Unit(members[0].name, members) for members in buckets.values()]
    _name_groups(units)
    return units


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
    """None when the two units were scored on the same test images; else the reason, in words."""
    for unit in (a, b):
        if unit.runs[0].split is None:
            return f"{unit.name} has no split.csv (nor a recorded split fingerprint), so its test images are unknown"
        if unit.ids is None:
            return f"the seeds of {unit.name} were scored on different test images"
    if a.runs[0].data != b.runs[0].data:
        return "they were trained on different datasets"
    if a.runs[0].split != b.runs[0].split:
        return (
            f"they were scored on different splits (split fingerprints {a.runs[0].split} vs {b.runs[0].split}); "
            "runs share their test images only with the same data, --split_seed and split fractions"
        )
    if a.ids != b.ids:
        return "same split but different test images (subsets drawn with --max_eval_samples)"
    return None


def compare_pair(a: Unit, b: Unit, seed: int = 0) -> Pair:
    """Accuracy difference, its paired bootstrap interval and p-value (McNemar for runs, sign-flip for groups)."""
    differences = a.per_image() - b.per_image()
    if differences.mean() < 0:
        a, b, differences = b, a, -differences
    low, high = stats.paired_bootstrap_interval(differences, seed=seed)
    if a.is_group or b.is_group:
        p = stats.paired_permutation_p(differences, seed=seed)
        return Pair(a, b, float(differences.mean()), low, high, "paired permutation, seed-averaged", p)
    a_only, b_only, p = stats.mcnemar_exact(a.runs[0].correct, b.runs[0].correct)
    return Pair(a, b, float(differences.mean()), low, high, "exact McNemar", p, (a_only, b_only))


def compare(named_runs: list[tuple[str, Path]]) -> Comparison:
    """Score, group and pair the runs (name, folder) that have test predictions."""
    runs = [run for name, run_dir in named_runs if (run := _score_or_skip(name, run_dir)) is not None]
    comparison = Comparison(runs, group_seeds(runs))
    for a, b in itertools.combinations(comparison.units, 2):
        reason = why_not_paired(a, b)
        if reason:
            comparison.unpaired.append(f"{a.name} and {b.name}: {reason}.")
        else:
            comparison.pairs.append(compare_pair(a, b))
    for pair, adjusted in zip(comparison.pairs, stats.holm([pair.p for pair in comparison.pairs])):
        pair.p_holm = float(adjusted)
    return comparison


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def verdict(pair: Pair) -> str:
    """One line in plain words."""
    points = f"{100 * pair.difference:.2f} points"
    ci = f"95% CI {100 * pair.low:.2f} to {100 * pair.high:.2f}"
    p = f"{format_p(pair.p_holm)}, Holm-adjusted"
    if pair.p_holm < ALPHA:
        return f"**{pair.better.name} is better than {pair.worse.name}** by {points} ({ci}; {p})."
    return (
        f"{pair.better.name} vs {pair.worse.name}: **no significant difference** "
        f"({pair.better.name} ahead by {points}, {ci}; {p})."
    )
