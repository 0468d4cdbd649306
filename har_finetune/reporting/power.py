"""What a comparison could detect: the minimum detectable difference and the seeds a claim would need.

Pure arithmetic (numbers in, numbers out), normal approximation, two-sided test at 5% with 80% power: a true
difference of (z_0.975 + z_0.80) = 1.960 + 0.842 = 2.802 standard errors is detected 80% of the time. The standard
error of an accuracy difference on n shared test images is sqrt(m2 / n), m2 the mean squared per-image difference:
for two single runs the share of discordant images (the McNemar variance under "no difference"; Connor 1987,
Biometrics 43:207). For groups of seeds each seed's accuracy also varies: the configuration means differ with
variance s_a^2 / k_a + s_b^2 / k_b (s the seed standard deviation, k the seeds) plus that of the test images (as
in Bouthillier et al. 2021). Example: 1,890 images, 10% discordant: 2.802 * sqrt(0.1 / 1890) = 2.04 points.
"""

from __future__ import annotations

import math

from scipy import stats

ALPHA = 0.05
POWER = 0.80
MAX_SEEDS = 1_000  # beyond this "more than 1,000": the test images, not the seeds, limit the comparison


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """z_(1 - alpha/2) + z_power: how many standard errors a detectable difference spans (2.802 at 5%, 80%)."""
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def standard_error(image_m2: float, images: int, seed_var_a: float = 0.0, k_a: int = 1, seed_var_b: float = 0.0,
                   k_b: int = 1) -> float:  # fmt: skip
    """Standard error of a difference of (mean) accuracies: sqrt(m2 / n + s_a^2 / k_a + s_b^2 / k_b).

    Args:
        image_m2: mean squared per-image difference (discordant share for two single runs).
        images: test images shared by the two.
        seed_var_a, seed_var_b: sample variances of the seeds' accuracies (0 for a single run).
        k_a, k_b: seeds per group.
    """
    return math.sqrt(image_m2 / images + seed_var_a / k_a + seed_var_b / k_b)


def minimum_detectable(se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true difference detected with `power` by a two-sided test at `alpha`: z_sum * se."""
    return z_sum(alpha, power) * se


def seeds_needed(difference: float, image_m2: float, images: int, seed_var_a: float, seed_var_b: float,
                 alpha: float = ALPHA, power: float = POWER) -> int | None:  # fmt: skip
    """Seeds per model (the same k for both) that make `difference` detectable, holding the test images and the
    seed spread as observed; None when no number of seeds does (the test images alone hide it).

    Solves (z_sum * se)^2 <= difference^2 for k: (s_a^2 + s_b^2) / k <= (difference / z_sum)^2 - m2 / n.
    """
    room = (difference / z_sum(alpha, power)) ** 2 - image_m2 / images
    if room <= 0:
        return None
    if seed_var_a + seed_var_b == 0:
        return 1
    k = math.ceil((seed_var_a + seed_var_b) / room - 1e-12)
    return min(k, MAX_SEEDS + 1)
