"""What a comparison could find: the true difference found 80% of the time, and the seeds a claim would need.

Pure arithmetic (numbers in, numbers out), two-sided test at 5%, power 80%, from the same model as the verdict:
- two single runs (exact McNemar) and "these models" (seeds fixed): a normal test with standard error sqrt(m2 / n),
  m2 the mean squared per-image difference, for two runs the share of discordant images (the McNemar variance under
  "no difference"; Connor 1987, Biometrics 43:207). A true difference of 1.960 + 0.842 = 2.802 standard errors is
  found 80% of the time: 1,890 images, 10% discordant: 2.802 * sqrt(0.1 / 1890) = 2.04 points.
- the configuration (seed groups): the verdict's t over seeds and test images (configuration_test.py), so the power
  is that of a t with its Welch-Satterthwaite df (noncentral t; Cohen 1988, ch. 2): with 3 seeds per group (about 4
  df) a true difference must be 3.76 standard errors to be found 80% of the time, not 2.80 (at 2.80 a t on 4 df
  finds it 56% of the time).
The seeds needed hold the observed seed spread and test images fixed; a seed variance from k seeds has k - 1 degrees
of freedom, so `seed_sd_range` says how far the true spread may be from the observed one (chi-square interval).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, stats

from har_finetune.reporting.configuration_test import satterthwaite

ALPHA = 0.05
POWER = 0.80
MAX_SEEDS = 1_000  # beyond this "more than 1,000": the test images, not the seeds, limit the comparison


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """z_(1 - alpha/2) + z_power: how many standard errors a detectable difference spans (2.802 at 5%, 80%)."""
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def standard_error(image_m2: float, images: int) -> float:
    """Standard error of an accuracy difference on `images` shared test images, seeds fixed: sqrt(m2 / n).

    Args:
        image_m2: mean squared per-image difference (the discordant share for two single runs).
        images: test images shared by the two.
    """
    return math.sqrt(image_m2 / images)


def power_of(difference: float, se: float, df: float = math.inf, alpha: float = ALPHA) -> float:
    """The chance that a two-sided test at `alpha` (t with `df`, normal when inf) finds a true `difference`."""
    if se == 0:
        return 1.0 if difference != 0 else alpha
    shift = abs(difference) / se
    if math.isinf(df):
        critical = stats.norm.ppf(1 - alpha / 2)
        return float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))
    critical = stats.t.ppf(1 - alpha / 2, df)
    found = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
    return float(found) if np.isfinite(found) else _t_power_by_quadrature(shift, critical, df)


def _t_power_by_quadrature(shift: float, critical: float, df: float) -> float:
    """The noncentral t's P(|T| > critical), T = (Z + shift) / sqrt(V / df) with V ~ chi2(df), integrated over V's
    quantiles (bounded and smooth at any df) where scipy's nct returns NaN (some large shifts)."""

    def given(quantile: float) -> float:
        scaled = critical * math.sqrt(stats.chi2.ppf(quantile, df) / df)
        return stats.norm.sf(scaled - shift) + stats.norm.cdf(-scaled - shift)

    return float(integrate.quad(given, 0, 1, limit=200)[0])


def minimum_detectable(se: float, df: float = math.inf, alpha: float = ALPHA, power: float = POWER) -> float:
    """The true difference a two-sided test at `alpha` finds with `power`: z_sum * se for a normal test, more
    standard errors for a t with few df (3.9 at 4 df)."""
    if se == 0:
        return 0.0
    high = 4.0
    while power_of(high, 1.0, df, alpha) < power and high < 1e6:  # a t on 1 df needs about 16 standard errors
        high *= 2
    return float(optimize.brentq(lambda shift: power_of(shift, 1.0, df, alpha) - power, 0.0, high, xtol=1e-10) * se)


def configuration_df(seed_variances: list[float], k: int, image_variance: float, images: int) -> float:
    """Welch-Satterthwaite df of the configuration's t with k seeds per group (each group's seed variance s^2 has
    k - 1 df, the test images' part images - 1)."""
    parts = [(v / k, k - 1) for v in seed_variances] + [(image_variance, images - 1)]
    return satterthwaite(sum(v for v, _ in parts), parts)


def configuration_power(difference: float, seed_variances: list[float], k: int, image_variance: float,
                        images: int, alpha: float = ALPHA) -> float:  # fmt: skip
    """The configuration verdict's power at k seeds per group, the seed spread and test images as given."""
    se = math.sqrt(sum(seed_variances) / k + image_variance)
    return power_of(difference, se, configuration_df(seed_variances, k, image_variance, images), alpha)


def seeds_needed(difference: float, seed_variances: list[float], image_variance: float, images: int,
                 alpha: float = ALPHA, power: float = POWER) -> int | None:  # fmt: skip
    """Seeds per group (the same k for both) that find a true `difference` with `power`, holding the seed spread
    (s^2 of each group) and the test images' variance as given; None when no number of seeds does (the test images
    alone hide it), MAX_SEEDS + 1 when more than MAX_SEEDS would be needed. The power grows with k: bisection."""
    if power_of(difference, math.sqrt(image_variance), images - 1, alpha) < power:
        return None
    if configuration_power(difference, seed_variances, MAX_SEEDS, image_variance, images, alpha) < power:
        return MAX_SEEDS + 1
    low, high = 1, MAX_SEEDS  # power(low) < target (a t on k - 1 = 0 df has none), power(high) >= target
    while high - low > 1:
        middle = (low + high) // 2
        if configuration_power(difference, seed_variances, middle, image_variance, images, alpha) >= power:
            high = middle
        else:
            low = middle
    return high


def seed_sd_range(seeds: list[int], confidence: float = 0.95) -> tuple[float, float]:
    """How far the true seed standard deviation may be from one estimated from these groups' seeds (pooled, sum of
    k - 1 df): the chi-square interval, as factors of the estimate. 3 + 3 seeds (4 df): 0.60 to 2.87."""
    df = sum(k - 1 for k in seeds)
    tail = (1 - confidence) / 2
    return math.sqrt(df / stats.chi2.ppf(1 - tail, df)), math.sqrt(df / stats.chi2.ppf(tail, df))
