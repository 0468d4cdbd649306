"""The statistics of one pair of units (runs or seed groups) on the same test images, and their Holm adjustment.

Two questions, two verdicts (docs/plots_and_report.md):
- *configuration* (would a new seed of A beat a new seed of B on new test images?): for two groups of at least
  MIN_SEEDS seeds each, a t over seeds and test images with Welch-Satterthwaite degrees of freedom
  (configuration_test.py; its false-positive rate is measured by benchmarks/verdict_calibration.py). Only this
  verdict may call a group "better".
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
from har_finetune.reporting.configuration_test import SeedImageT, configuration_t

if TYPE_CHECKING:
    from har_finetune.reporting.scored import Unit

ALPHA = 0.05
MIN_SEEDS = 3  # per group: a seed variance from 2 values has 1 degree of freedom (95% range of its sd: 0.45x to 32x)
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
    t: SeedImageT | None = None  # the configuration's t over seeds and test images
    p_holm: float = float("nan")
    level: float = stats.CONFIDENCE
    low: float = float("nan")
    high: float = float("nan")
    family: int = 1  # tests adjusted together

    @property
    def significant(self) -> bool:
        return bool(self.p_holm < ALPHA)

    @property
    def ahead(self) -> int:
        """+1 when the verdict finds A more accurate, -1 for B, 0 when it finds no difference (or exactly 0)."""
        return int(np.sign(self.difference)) if self.significant else 0

    def interval(self, confidence: float) -> tuple[float, float]:
        if self.discordant is not None:
            return stats.mcnemar_interval(*self.discordant, self.images, confidence)
        if self.t is not None:
            return self.t.interval(confidence)
        return stats.bootstrap_interval(self.draws, confidence)


@dataclass
class Power:
    """What the decisive verdict's test could find (80% power, 5% level): the configuration's t for seed groups of
    MIN_SEEDS or more, else the normal test on these models' test images; and for groups, the seeds per model that
    would find the observed difference, with the range the seed spread's uncertainty leaves."""

    question: str  # CONFIGURATION or MODELS: the test this power belongs to
    images: int
    seeds: tuple[int, int]
    detectable: float  # the true difference found 80% of the time
    df: float = float("inf")  # the t's degrees of freedom (inf: a normal test)
    discordant: int | None = None  # two single runs
    image_only: float | None = None  # configuration: what infinitely many seeds would leave (the test images)
    seed_sd: float | None = None  # configuration: the seeds' standard deviation, pooled over both groups
    sd_range: tuple[float, float] | None = None  # its 95% chi-square range, as factors of seed_sd
    seeds_needed: int | None = None  # to find the observed difference (None: no number of seeds)
    seeds_needed_range: tuple[int | None, int | None] = (None, None)  # at the low and the high end of sd_range


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
        draws = stats.bootstrap_draws(matrix_a, matrix_b, seed=seed)
        test = "bootstrap over test images, seeds fixed"
        models = Verdict(MODELS, test, difference, stats.bootstrap_p(draws), images, draws=draws)
    configuration = None
    if min(len(a.runs), len(b.runs)) >= MIN_SEEDS:
        configuration = configuration_verdict(matrix_a, matrix_b)
    return Pair(a, b, difference, models, configuration, pair_power(matrix_a, matrix_b, configuration))


def configuration_verdict(matrix_a: np.ndarray, matrix_b: np.ndarray) -> Verdict:
    """The configuration verdict on two groups' correctness matrices (seeds x the same images); what
    benchmarks/verdict_calibration.py runs."""
    t = configuration_t(matrix_a, matrix_b)
    return Verdict(CONFIGURATION, TEST_NAME, t.estimate, t.p, t.images, t=t)


TEST_NAME = "t over seeds and test images"


def pair_power(matrix_a: np.ndarray, matrix_b: np.ndarray, configuration: Verdict | None) -> Power:
    """The power of the decisive verdict's test: the configuration's t (seeds and test images), else a normal test
    on the test images with the mean squared per-image difference (the discordant share for two runs)."""
    images, seeds = matrix_a.shape[1], (len(matrix_a), len(matrix_b))
    if configuration is None:
        m2 = float(np.mean((matrix_a.mean(axis=0) - matrix_b.mean(axis=0)) ** 2))
        result = Power(MODELS, images, seeds, power.minimum_detectable(power.standard_error(m2, images)))
        result.discordant = int(round(m2 * images)) if seeds == (1, 1) else None
        return result
    t = configuration.t
    result = Power(CONFIGURATION, images, seeds, power.minimum_detectable(t.se, t.df), t.df)
    result.image_only = power.minimum_detectable(np.sqrt(t.image_variance), images - 1)
    pooled = sum((k - 1) * v for k, v in zip(t.seeds, t.seed_variances)) / sum(k - 1 for k in t.seeds)
    result.seed_sd, result.sd_range = float(np.sqrt(pooled)), power.seed_sd_range(list(t.seeds))
    if t.estimate != 0:
        needed = [power.seeds_needed(abs(t.estimate), [f**2 * v for v in t.seed_variances], t.image_variance, images)
                  for f in (1.0, *result.sd_range)]  # fmt: skip
        result.seeds_needed, result.seeds_needed_range = needed[0], (needed[1], needed[2])
    return result


def adjust(pairs: list[Pair]) -> None:
    """Holm-adjust the p-values of each question over the pairs, and set each interval at its Holm level."""
    for question in (CONFIGURATION, MODELS):
        adjust_family([v for pair in pairs for v in pair.verdicts if v.question == question])


def adjust_family(family: list[Verdict]) -> None:
    """Holm over one question's verdicts: adjusted p, the matching level and the interval at it (one verdict: as is)."""
    if not family:
        return
    p_values = [v.p for v in family]
    for verdict, p_holm, level in zip(family, stats.holm(p_values), stats.holm_levels(p_values, ALPHA)):
        verdict.p_holm, verdict.level, verdict.family = float(p_holm), float(level), len(family)
        verdict.low, verdict.high = verdict.interval(level)
