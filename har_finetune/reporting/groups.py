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

from har_finetune.reporting import verdicts
from har_finetune.reporting.loading import score_or_skip
from har_finetune.reporting.scored import ScoredRun, Unit
from har_finetune.reporting.verdicts import Pair
from har_finetune.run_folder.reader import RunRecord


@dataclass
class Comparison:
    runs: list[ScoredRun]
    units: list[Unit]
    pairs: list[Pair] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)  # why some units were not compared
    warnings: list[str] = field(default_factory=list)  # e.g. the same seed twice


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
    _note_seeds_elsewhere(units)
    return units, warnings


def _note_seeds_elsewhere(units: list[Unit]) -> None:
    """Each unit learns the runs of its settings (seed aside) that were scored on other test images: they are not
    in it (no pairing across test sets), and the report names them in its row, not only under "Not compared"."""
    for unit in units:
        first = unit.runs[0]
        if first.identity is None:
            continue
        unit.elsewhere = [
            run
            for other in units
            if other is not unit and (other.runs[0].identity, other.runs[0].data) == (first.identity, first.data)
            for run in other.runs
        ]


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
    return how_test_sets_differ(a.name, dict(a.test_images), b.name, dict(b.test_images))


def how_test_sets_differ(name_a: str, a: dict[str, str], name_b: str, b: dict[str, str]) -> str | None:
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


def compare(named_runs: list[tuple[str, RunRecord]]) -> Comparison:
    """Score, group and pair the runs (name, record) that have test predictions."""
    runs = [run for name, record in named_runs if (run := score_or_skip(name, record)) is not None]
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
