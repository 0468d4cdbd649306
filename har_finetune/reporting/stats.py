"""The statistics of REPORT.md: intervals, paired tests, multiple-comparison correction, calibration.

Torch-free and file-free: arrays in, numbers out. scipy does the statistics (Wilson interval, exact binomial test
and its Clopper-Pearson interval); only Holm's step-down correction (not in scipy) and the calibration error are
written here, and the paired bootstrap over test images with the p-value and intervals read off one set of draws,
so that an interval excludes 0 exactly when p < its level. The configuration's test over seeds and test images is
configuration_test.py.
With 1,890 test images a 95% interval on one accuracy near 85-90% is about +-1.5 points, so two
models are compared on the same images with a paired test, never by whether their intervals overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 9_999
ECE_BINS = 15
BATCH = 1_000  # resamples evaluated at once: 1,000 x 1,890 test images of float64 is 15 MB


def wilson_interval(correct: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of an accuracy `correct / total` (good at small n and near 0 or 1, unlike Wald)."""
    ci = stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(a_correct: np.ndarray, b_correct: np.ndarray) -> tuple[int, int, float]:
    """Exact McNemar test of two classifiers scored on the same images (boolean arrays, aligned by image).

    Only the discordant images count: under "equally accurate" each is equally likely to favour either model, so
    `a_only` is Binomial(a_only + b_only, 1/2). Returns (a_only, b_only, two-sided p-value).
    """
    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    a_only, b_only = int((a_correct & ~b_correct).sum()), int((~a_correct & b_correct).sum())
    p = 1.0 if a_only + b_only == 0 else float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return a_only, b_only, p


def bootstrap_draws(a: np.ndarray, b: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """Bootstrap draws of mean accuracy of `a` minus that of `b`, paired on the test images, seeds fixed.

    `a` and `b` are correctness matrices (seeds x images, 0/1; a single run is one row) on the same images in the
    same order. Each draw resamples the images once for both (the pairing); the seeds stay: the draws describe these
    trained models only. (Resampling the seeds as well, a two-level bootstrap, says "better" too often at 3-5 seeds:
    a bootstrap of k values shrinks their variance by (k - 1) / k and has no small-sample correction; the
    configuration's test is configuration_test.py.)
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    n = a.shape[1]
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, n_resamples, BATCH):
        images = _resample_weights(rng, min(BATCH, n_resamples - start), n)  # (size, n): share of draws per image
        means = [(images @ m.T).mean(axis=1) for m in (a, b)]  # each seed's accuracy on the drawn images, averaged
        draws.append(means[0] - means[1])
    return np.concatenate(draws)


def _resample_weights(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """`size` rows of n weights: the share of n draws with replacement that fell on each of the n items."""
    picks = rng.integers(0, n, (size, n)) + n * np.arange(size)[:, None]
    return np.bincount(picks.ravel(), minlength=size * n).reshape(size, n) / n


def bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "difference = 0": twice the smaller share of draws on either side of 0.

    Dual to `bootstrap_interval`: the interval at level 1 - alpha excludes 0 exactly when this p < alpha."""
    draws = np.asarray(draws, float)
    return float(min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))))


def bootstrap_interval(draws: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of the draws, each end the smallest draw with at least (1 - confidence) / 2 of the draws
    at or beyond it (the inverted empirical CDF, so that the interval and `bootstrap_p` agree exactly)."""
    draws = np.asarray(draws, float)
    tail = (1 - confidence) / 2
    low = np.quantile(draws, tail, method="inverted_cdf")
    high = -np.quantile(-draws, tail, method="inverted_cdf")
    return float(low), float(high)


def mcnemar_interval(a_only: int, b_only: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of the accuracy difference (A - B) that goes with the exact McNemar test.

    Given the D = a_only + b_only discordant images, the difference is D / total * (2 pi - 1), pi the chance that a
    discordant image favours A; pi gets the Clopper-Pearson interval of a_only of D (the inversion of the same exact
    binomial test). It excludes 0 exactly when `mcnemar_exact`'s p < 1 - confidence."""
    discordant = a_only + b_only
    if discordant == 0:
        return 0.0, 0.0
    ci = stats.binomtest(a_only, discordant).proportion_ci(confidence_level=confidence, method="exact")
    scale = discordant / total
    return float(scale * (2 * ci.low - 1)), float(scale * (2 * ci.high - 1))


def holm(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control; scipy has only Benjamini-Hochberg/Yekutieli).

    The k-th smallest p (k = 0, 1, ...) is multiplied by (m - k), then made non-decreasing in that order and capped
    at 1; rejecting where adjusted p < alpha is Holm's procedure."""
    p = np.asarray(p_values, float)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(p_values: list[float] | np.ndarray, alpha: float = 1 - CONFIDENCE) -> np.ndarray:
    """The confidence level of each pair's interval that matches Holm's procedure.

    Holm tests the k-th smallest p (k = 0, 1, ...) at alpha / (m - k) and stops at the first it cannot reject; the
    pairs from there on stay at that pair's level. An interval at 1 - (its level) then excludes 0 exactly when the
    Holm-adjusted p < alpha (for tests whose interval and p are dual: `bootstrap_*`, `mcnemar_*`)."""
    p = np.asarray(p_values, float)
    levels = np.empty_like(p)
    stopped = None
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        if stopped is None and not p[i] < alpha / (len(p) - rank):
            stopped = rank
        levels[i] = 1 - alpha / (len(p) - (rank if stopped is None else stopped))
    return levels


@dataclass(frozen=True)
class Calibration:
    """Reliability of the confidences: per bin (equal width on [0, 1]) the count, mean confidence and accuracy."""

    ece: float
    counts: np.ndarray
    confidence: np.ndarray  # NaN in empty bins
    accuracy: np.ndarray  # NaN in empty bins


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> Calibration:
    """Expected calibration error: sum over bins of |accuracy - mean confidence| weighted by the bin's share.

    Bin k holds confidences in (k/bins, (k+1)/bins]; 0 goes to the first bin."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct, bins) / counts
    gaps = np.where(counts > 0, np.abs(accuracy - mean_conf), 0.0)
    return Calibration(float((gaps * counts).sum() / counts.sum()), counts, mean_conf, accuracy)


@dataclass(frozen=True)
class Spread:
    """Seeds of one configuration: mean, sample standard deviation, min, max, n."""

    mean: float
    std: float
    low: float
    high: float
    n: int


def spread(values: list[float] | np.ndarray) -> Spread:
    values = np.asarray(values, float)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return Spread(float(values.mean()), std, float(values.min()), float(values.max()), len(values))
