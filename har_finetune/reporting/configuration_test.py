"""The configuration verdict's test: would a new seed of A score higher than a new seed of B on new test images?

Two groups of seeds scored on the same n test images (correctness matrices, seeds x images, 0/1). The statistic is
D = (mean accuracy of A's seeds) - (mean accuracy of B's seeds); it varies with the seeds drawn and the test images
drawn. Under the two-way random-effects model Y[g, s, i] = mu_g + image_g[i] + seed_g[s] + noise[g, s, i] (the image
effects of A and B may be correlated: the same images hard for both, or different ones), its variance has the
unbiased ANOVA estimate (Searle, Casella & McCulloch 1992, ch. 4)

    V = s_A^2 / k_A + s_B^2 / k_B + max(0, S_d^2 - MSE_A / k_A - MSE_B / k_B) / n

- s_g^2: sample variance of group g's k_g seed accuracies (the seed effect plus the noise averaged over n images);
- S_d^2: sample variance over the images of the seed-averaged per-image difference (pairing by test image);
- MSE_g: group g's seed x image residual mean square (two-way ANOVA without replication): S_d^2 holds it once more,
  s_g^2 already counts it, so it is taken out.

T = D / sqrt(V) is referred to Student's t with Welch-Satterthwaite degrees of freedom (Satterthwaite 1946,
Biometrics Bulletin 2:110; Welch 1947, Biometrika 34:28): with 3 seeds per group about 2 to 4, which is what keeps
"better" at its 5% level; p-value and interval are the same t, so the interval excludes 0 exactly when p < its level.
Worked example: seeds 84/85/86% vs 82/83/84% on 1,890 images: D = 2 points, the seed part alone gives
se = sqrt(1/3 + 1/3) = 0.816 points, t = 2.45 on about 4 df, p ~ 0.07 (Welch's t on the seeds: 0.070).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SeedImageT:
    """The t statistic of a configuration's accuracy (one group) or of a difference (two groups)."""

    estimate: float  # a fraction: 0.05 = 5 points
    df: float  # inf when V = 0
    seeds: tuple[int, ...]  # k of each group
    seed_variances: tuple[float, ...]  # s^2 of each group's seed accuracies
    image_variance: float  # the test images' part of V (what infinitely many seeds would leave)
    images: int

    @property
    def se(self) -> float:
        return math.sqrt(sum(v / k for v, k in zip(self.seed_variances, self.seeds)) + self.image_variance)

    @property
    def p(self) -> float:
        """Two-sided p of "the configurations are equally accurate" (of a difference; for one group, of 0)."""
        if self.se == 0:
            return 1.0 if self.estimate == 0 else 0.0
        return float(2 * stats.t.sf(abs(self.estimate) / self.se, self.df))

    def interval(self, confidence: float) -> tuple[float, float]:
        half = 0.0 if self.se == 0 else float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return self.estimate - half, self.estimate + half


@dataclass(frozen=True)
class _Group:
    k: int
    accuracies: np.ndarray  # per seed
    per_image: np.ndarray  # seed-averaged correctness per image
    mse: float  # seed x image residual mean square


def _group(matrix: np.ndarray) -> _Group:
    matrix = np.atleast_2d(np.asarray(matrix, float))
    k, n = matrix.shape
    accuracies, per_image = matrix.mean(axis=1), matrix.mean(axis=0)
    residual = matrix - accuracies[:, None] - per_image[None, :] + matrix.mean()
    mse = float(np.sum(residual**2) / ((k - 1) * (n - 1))) if k > 1 and n > 1 else 0.0
    return _Group(k, accuracies, per_image, mse)


def configuration_t(a: np.ndarray, b: np.ndarray | None = None) -> SeedImageT:
    """The t of A - B over seeds and test images (columns of `a` and `b` are the same images, in the same order), or
    with `b` None of A's accuracy. Each group needs at least 2 seeds (a variance from 1 is undefined)."""
    groups = [_group(a)] + ([] if b is None else [_group(b)])
    if min(g.k for g in groups) < 2:
        raise ValueError("configuration_t needs at least 2 seeds per group")
    sign = [1.0, -1.0][: len(groups)]
    n = len(groups[0].per_image)
    estimate = float(sum(s * g.accuracies.mean() for s, g in zip(sign, groups)))
    seed_parts = [(float(g.accuracies.var(ddof=1)) / g.k, g.k - 1) for g in groups]  # (variance, df)
    per_image = sum(s * g.per_image for s, g in zip(sign, groups))
    image_parts = [(float(per_image.var(ddof=1)) / n, n - 1)] if n > 1 else [(0.0, 1)]
    noise_parts = [(g.mse / (g.k * n), (g.k - 1) * (n - 1)) for g in groups]
    image_variance = image_parts[0][0] - sum(v for v, _ in noise_parts)
    if image_variance <= 0:  # the images add nothing beyond the seed noise: nothing of theirs to count
        image_variance, image_parts, noise_parts = 0.0, [], []
    df = satterthwaite(sum(v for v, _ in seed_parts) + image_variance, seed_parts + image_parts + noise_parts)
    variances = tuple(float(g.accuracies.var(ddof=1)) for g in groups)
    return SeedImageT(estimate, df, tuple(g.k for g in groups), variances, image_variance, n)


def satterthwaite(total: float, parts: list[tuple[float, float]]) -> float:
    """Degrees of freedom of `total`, a sum of independent variance estimates each given as (variance, its df):
    total^2 / sum(variance^2 / df); a part subtracted counts the same as one added. inf when all are 0."""
    denominator = sum(v**2 / df for v, df in parts if v > 0)
    return math.inf if denominator == 0 else total**2 / denominator
