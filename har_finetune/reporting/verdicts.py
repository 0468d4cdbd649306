"""The statistics of one pair of units (runs or seed groups) on the same test images, and their Holm adjustment.

Two questions, two verdicts (docs/plots_and_report.md):
- *configuration* (would a new seed of A beat a new seed of B on new test images?): for two groups of at least
  MIN_SEEDS seeds each, a two-level bootstrap that resamples the seeds of each group and the test images together
  (Saravanan et al. 2020; Bouthillier et al. 2021). Only this verdict may call a group "better".
- *these models* (are these trained models more accurate, test images resampled, seeds fixed?): the exact McNemar
  test for two single runs, a paired bootstrap over test images otherwise.
Each verdict's interval and p-value come from one procedure and are dual (the interval excludes 0 exactly when
p < its level); with several pairs both are Holm-adjusted within the question (stats.holm, stats.holm_levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from har_finetune.reporting import power, stats

if TYPE_CHECKING:
    from har_finetune.reporting.scored import Unit

ALPHA = 0.05
MIN_SEEDS = 3  # per group: with 2 seeds a bootstrap over seeds has 3 distinct draws, and a std from 2 values is noise
CONFIGURATION = "configuration"
MODELS = "these models"


@dataclass
class Verdict:
    """One test of "A and B are equally accurate": the difference A - B (a fraction), p, and after `adjust` the
    Holm-adjusted p and the interval at the matching level."""

    question: str  # CONFIGURATION or MODELS
    test: str
    difference: float
    p: float
    images: int
    draws: np.ndarray | None = None  # bootstrap draws of A - B
    discordant: tuple[int, int] | None = None  # exact McNemar: images only A / only B got right
    p_holm: float = float("nan")
    level: float = stats.CONFIDENCE
    low: float = float("nan")
    high: float = float("nan")
    family: int = 1  # tests adjusted together

    @property
    def significant(self) -> bool:
        return bool(self.p_holm < ALPHA)

    def interval(self, confidence: float) -> tuple[float, float]:
        if self.discordant is not None:
            return stats.mcnemar_interval(*self.discordant, self.images, confidence)
        return stats.bootstrap_interval(self.draws, confidence)


@dataclass
class Power:
    """What the pair could detect: the minimum detectable difference (80% power, 5% level) and, for groups, the
    seeds per model that would make the observed difference detectable (None: no number of seeds would)."""

    images: int
    seeds: tuple[int, int]
    detectable: float
    image_only: float  # the same, counting the test images only (what infinitely many seeds would leave)
    seeds_needed: int | None = None
    discordant: int | None = None  # two single runs


@dataclass
class Pair:
    """Two units on the same test images, in the order given; `difference` is A - B (a fraction, 0.05 = 5 points)."""

    a: Unit
    b: Unit
    difference: float
    models: Verdict
    configuration: Verdict | None  # None: a single run, or fewer than MIN_SEEDS seeds in a group
    power: Power

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for v in (self.configuration, self.models) if v is not None]

    @property
    def decisive(self) -> Verdict:
        """The verdict that may call one unit better: the configuration's for groups, else these models'."""
        return self.configuration if self.configuration is not None else self.models

    @property
    def needs_seeds(self) -> bool:
        """A group is involved but some unit has too few seeds for a claim about the configuration."""
        return self.configuration is None and (self.a.is_group or self.b.is_group)


def compare_pair(a: Unit, b: Unit, seed: int = 0) -> Pair:
    """Both verdicts (as far as the seeds allow) and the power of the pair; intervals come with `adjust`."""
    matrix_a, matrix_b = a.matrix(), b.matrix()
    images = matrix_a.shape[1]
    difference = float(matrix_a.mean() - matrix_b.mean())
    if not a.is_group and not b.is_group:
        a_only, b_only, p = stats.mcnemar_exact(matrix_a[0], matrix_b[0])
        models = Verdict(MODELS, "exact McNemar", difference, p, images, discordant=(a_only, b_only))
    else:
        draws = stats.bootstrap_draws(matrix_a, matrix_b, resample_seeds=False, seed=seed)
        test = "bootstrap over test images, seeds fixed"
        models = Verdict(MODELS, test, difference, stats.bootstrap_p(draws), images, draws=draws)
    configuration = None
    if min(len(a.runs), len(b.runs)) >= MIN_SEEDS:
        draws = stats.bootstrap_draws(matrix_a, matrix_b, resample_seeds=True, seed=seed)
        test = "two-level bootstrap over seeds and test images"
        configuration = Verdict(CONFIGURATION, test, difference, stats.bootstrap_p(draws), images, draws=draws)
    return Pair(a, b, difference, models, configuration, pair_power(matrix_a, matrix_b, difference))


def pair_power(matrix_a: np.ndarray, matrix_b: np.ndarray, difference: float) -> Power:
    """Minimum detectable difference from the test images' second moment of the per-image difference (the
    discordant share for two runs) and each group's seed variance (0 for a single run: unknown)."""
    images = matrix_a.shape[1]
    m2 = float(np.mean((matrix_a.mean(axis=0) - matrix_b.mean(axis=0)) ** 2))
    k_a, k_b = len(matrix_a), len(matrix_b)
    var_a, var_b = (float(m.mean(axis=1).var(ddof=1)) if len(m) > 1 else 0.0 for m in (matrix_a, matrix_b))
    se = power.standard_error(m2, images, var_a, k_a, var_b, k_b)
    result = Power(images, (k_a, k_b), power.minimum_detectable(se), power.minimum_detectable(np.sqrt(m2 / images)))
    if k_a == 1 and k_b == 1:
        result.discordant = int(round(m2 * images))
    elif k_a > 1 and k_b > 1 and difference != 0:
        result.seeds_needed = power.seeds_needed(abs(difference), m2, images, var_a, var_b)
    return result


def adjust(pairs: list[Pair]) -> None:
    """Holm-adjust the p-values of each question over the pairs, and set each interval at its Holm level."""
    for question in (CONFIGURATION, MODELS):
        family = [v for pair in pairs for v in pair.verdicts if v.question == question]
        if not family:
            continue
        p_values = [v.p for v in family]
        for verdict, p_holm, level in zip(family, stats.holm(p_values), stats.holm_levels(p_values, ALPHA)):
            verdict.p_holm, verdict.level, verdict.family = float(p_holm), float(level), len(family)
            verdict.low, verdict.high = verdict.interval(level)
