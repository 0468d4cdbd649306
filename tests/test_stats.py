"""The report's statistics against independent references: scipy calls written here, textbook values, constructions.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_stats.py -q
"""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from har_finetune.reporting import stats
from har_finetune.reporting.configuration_test import configuration_t


def paired(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness arrays of two classifiers with the given 2x2 contingency table."""
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, bool)
    return a, b


@pytest.mark.parametrize(("correct", "total"), [(81, 263), (0, 10), (10, 10), (1_700, 1_890), (86, 90)])
def test_wilson_interval_matches_the_formula(correct, total):
    """Against the Wilson score formula written out, with z from scipy's normal quantile."""
    z = scipy_stats.norm.ppf(0.975)
    p = correct / total
    centre = (p + z**2 / (2 * total)) / (1 + z**2 / total)
    half = z / (1 + z**2 / total) * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2))
    assert stats.wilson_interval(correct, total) == pytest.approx((centre - half, centre + half), abs=1e-12)


def test_wilson_interval_textbook_value():
    """Newcombe (1998), Statistics in Medicine 17:857, example 81 of 263: Wilson 95% interval 0.2553 to 0.3662."""
    low, high = stats.wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize("table", [(50, 11, 6, 23), (10, 0, 0, 5), (0, 7, 1, 0), (400, 30, 12, 58)])
def test_mcnemar_exact_matches_a_binomial_test_on_the_discordant_pairs(table):
    a, b = paired(*table)
    a_only, b_only, p = stats.mcnemar_exact(a, b)
    assert (a_only, b_only) == table[1:3]
    n = a_only + b_only
    expected = 1.0 if n == 0 else min(1.0, 2 * scipy_stats.binom.cdf(min(a_only, b_only), n, 0.5))
    assert p == pytest.approx(expected, rel=1e-12)


def test_mcnemar_textbook_values():
    """Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, worked example with 1 and 7 discordant pairs:
    exact conditional p = 2 * 9/256 = 0.0703. And the make-demo case of issue 13 (11 vs 6 of 90): p = 0.3323."""
    a, b = paired(12, 1, 7, 1)
    assert stats.mcnemar_exact(a, b)[2] == pytest.approx(18 / 256)
    a, b = paired(70, 11, 6, 3)
    assert round(stats.mcnemar_exact(a, b)[2], 4) == 0.3323


def test_bootstrap_is_deterministic_for_a_seed_and_covers_the_difference():
    rng = np.random.default_rng(0)
    a, b = rng.random(500) < 0.9, rng.random(500) < 0.8
    first = stats.bootstrap_interval(stats.bootstrap_draws(a, b, seed=3))
    assert first == stats.bootstrap_interval(stats.bootstrap_draws(a, b, seed=3))
    assert first != stats.bootstrap_interval(stats.bootstrap_draws(a, b, seed=4))
    assert first[0] < a.mean() - b.mean() < first[1]
    assert stats.bootstrap_interval(stats.bootstrap_draws(a, a)) == (0.0, 0.0)  # identical predictions


def test_bootstrap_matches_scipy_percentile_bootstrap():
    """One run each: the paired draws' interval is scipy's percentile bootstrap of the per-image differences (other
    random draws, so equal within the Monte Carlo error of 9,999 resamples: well under 0.005 here)."""
    rng = np.random.default_rng(1)
    a, b = rng.random(300) < 0.85, rng.random(300) < 0.8
    reference = scipy_stats.bootstrap(
        (a.astype(float) - b,),
        np.mean,
        n_resamples=stats.N_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    ours = stats.bootstrap_interval(stats.bootstrap_draws(a, b, seed=7))
    assert ours == pytest.approx((reference.low, reference.high), abs=0.005)


def test_holm_against_a_hand_computed_example():
    """p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> 0.06
    (kept non-decreasing)."""
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.02]) == pytest.approx([0.02])


def test_ece_of_a_perfectly_calibrated_set_is_zero():
    """In every bin the share right equals the confidence: 10 images at 0.3 with 3 right, 10 at 0.9 with 9 right."""
    confidence = np.array([0.3] * 10 + [0.9] * 10)
    correct = np.array([1] * 3 + [0] * 7 + [1] * 9 + [0] * 1)
    result = stats.calibration(confidence, correct)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert result.counts.sum() == 20 and len(result.counts) == 15


def test_ece_of_an_over_confident_set():
    """Confidence 0.95 everywhere, 60% right: ECE = |0.6 - 0.95| = 0.35; plus a second bin at 0.5 with 50% right."""
    assert stats.calibration(np.full(100, 0.95), np.arange(100) < 60).ece == pytest.approx(0.35)
    confidence = np.array([0.95] * 100 + [0.5] * 100)
    correct = np.concatenate([np.arange(100) < 60, np.arange(100) < 50])
    assert stats.calibration(confidence, correct).ece == pytest.approx(0.5 * 0.35 + 0.5 * 0.0)
    edges = stats.calibration(np.array([0.0, 1 / 15, 1.0]), np.array([1, 1, 1]))
    assert list(edges.counts[[0, 14]]) == [2, 1]  # (0, 1/15] holds 0 and 1/15; 1.0 is in the last bin


def test_spread_uses_the_sample_standard_deviation():
    result = stats.spread([0.80, 0.82, 0.84])
    assert (result.mean, result.low, result.high, result.n) == pytest.approx((0.82, 0.80, 0.84, 3))
    assert result.std == pytest.approx(np.std([0.80, 0.82, 0.84], ddof=1))


# Issue 18: the bootstrap is paired, the tests are two-sided, intervals agree with their p-values, power by hand.


def correlated_runs(n: int = 1_000, gap: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two runs right on the same ~half of the images, A right on `gap` more: a difference of gap / n that a paired
    resampling finds (every discordant image favours A) and an unpaired one drowns in +-4.4 points of noise."""
    rng = np.random.default_rng(seed)
    b = rng.random(n) < 0.5
    a = b.copy()
    a[np.flatnonzero(~b)[:gap]] = True
    return a, b


def test_bootstrap_is_paired_on_test_images():
    """Catches a bootstrap that resamples each run's images on its own: its interval here is about -3.2 to 5.6."""
    a, b = correlated_runs()
    draws = stats.bootstrap_draws(a, b)
    low, high = stats.bootstrap_interval(draws)
    assert 0 < low <= 0.012 <= high < 0.025
    assert stats.bootstrap_p(draws) < 0.001
    unpaired = (np.random.default_rng(1).permutation(a), b)  # the same accuracies, the pairing destroyed
    assert stats.bootstrap_interval(stats.bootstrap_draws(*unpaired))[0] < 0


def test_tests_are_two_sided():
    """Catches a one-sided bootstrap p and a lopsided interval."""
    a, b = correlated_runs(gap=9)
    draws = stats.bootstrap_draws(a, b)
    assert stats.bootstrap_p(draws) == stats.bootstrap_p(-draws)
    assert stats.bootstrap_interval(-draws) == tuple(-x for x in stats.bootstrap_interval(draws)[::-1])


def test_16_vs_6_discordant_images_interval_and_verdict_agree():
    """16 vs 6 discordant of 300: exact McNemar p = 0.0525 (> 0.05), so its interval must contain 0, though a
    percentile bootstrap over images says 0.33 to 6.33 (the issue's disagreement)."""
    a, b = paired(200, 16, 6, 78)
    _, _, p = stats.mcnemar_exact(a, b)
    assert p == pytest.approx(2 * scipy_stats.binom.cdf(6, 22, 0.5))
    low, high = stats.mcnemar_interval(16, 6, 300)
    reference = scipy_stats.binomtest(16, 22).proportion_ci(method="exact")
    assert (low, high) == pytest.approx((22 / 300 * (2 * reference.low - 1), 22 / 300 * (2 * reference.high - 1)))
    assert low < 0 < high and p > 0.05
    # every level and both procedures: the interval excludes 0 exactly when p < 1 - level
    draws = stats.bootstrap_draws(a, b)
    for level in (0.9, 0.95, 0.96, 0.97, 0.98, 0.99):
        low, high = stats.mcnemar_interval(16, 6, 300, level)
        assert (low > 0 or high < 0) == (p < 1 - level)
        low, high = stats.bootstrap_interval(draws, level)
        assert (low > 0 or high < 0) == (stats.bootstrap_p(draws) < 1 - level)


def test_holm_levels_match_holm_decisions():
    """p = 0.01, 0.04, 0.03, 0.005: Holm rejects 0.005 (< 0.05/4) and 0.01 (< 0.05/3), stops at 0.03 (> 0.05/2);
    0.04 stays at 0.03's level 1 - 0.05/2, though 0.04 < 0.05/1."""
    levels = stats.holm_levels([0.01, 0.04, 0.03, 0.005])
    assert levels == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 2, 1 - 0.05 / 2, 1 - 0.05 / 4])
    rng = np.random.default_rng(5)
    for _ in range(200):
        p = rng.uniform(0, 0.08, rng.integers(1, 6))
        rejected = stats.holm(p) < 0.05
        assert np.array_equal(rejected, p < 1 - stats.holm_levels(p))


def seed_group(accuracies: list[float], n: int = 300, seed: int = 0) -> np.ndarray:
    """Correctness (seeds x images): each seed right on a random `accuracy` share of the n images."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((len(accuracies), n))
    for row, accuracy in zip(rows, accuracies):
        row[rng.permutation(n)[: round(accuracy * n)]] = 1
    return rows


def test_configuration_t_written_out():
    """V and its df computed here with loops, the formulas of configuration_test.py's docstring: s^2 / k per group,
    the per-image difference's variance less each group's seed x image residual mean square over k, over n."""
    a, b = seed_group([0.84, 0.85, 0.86], n=200, seed=1), seed_group([0.80, 0.83, 0.84, 0.81], n=200, seed=2)
    a[:, :60] = 1  # images easy for every seed of A: an image part that does not cancel
    n, seed_parts, noise = 200, [], []
    for m in (a, b):
        k = len(m)
        accuracies = [m[s].mean() for s in range(k)]
        seed_parts.append(np.var(accuracies, ddof=1) / k)
        residual = sum((m[s, i] - accuracies[s] - m[:, i].mean() + m.mean()) ** 2 for s in range(k) for i in range(n))
        noise.append(residual / ((k - 1) * (n - 1)) / (k * n))
    image = np.var([a[:, i].mean() - b[:, i].mean() for i in range(n)], ddof=1) / n
    v = sum(seed_parts) + image - sum(noise)
    # each part's square over its df: seeds k - 1 (2 and 3), images n - 1, residuals (k - 1)(n - 1)
    df = v**2 / (seed_parts[0] ** 2 / 2 + seed_parts[1] ** 2 / 3 + image**2 / (n - 1) + noise[0] ** 2 / (2 * (n - 1))
                 + noise[1] ** 2 / (3 * (n - 1)))  # fmt: skip
    t = configuration_t(a, b)
    assert t.estimate == pytest.approx(a.mean() - b.mean()) and t.image_variance > 0
    assert (t.se, t.df) == pytest.approx((np.sqrt(v), df), rel=1e-9)
    assert t.p == pytest.approx(2 * scipy_stats.t.sf(abs(t.estimate) / np.sqrt(v), df), rel=1e-9)


@pytest.mark.filterwarnings("ignore:Precision loss")  # scipy's Welch on 82/82/82, a group without spread
def test_configuration_t_is_welch_when_the_images_add_nothing():
    """The issue-18 case, 95/80/80% vs 82/82/82% on 300 images (each seed right on its own random images: the
    per-image differences are all seed noise, so the images' part is 0): exactly Welch's t on the seed accuracies,
    2 df; the interval covers 0 (the old image-level test said p = 0.018)."""
    lucky, steady = seed_group([0.95, 0.80, 0.80], seed=1), seed_group([0.82, 0.82, 0.82], seed=2)
    t = configuration_t(lucky, steady)
    welch = scipy_stats.ttest_ind(lucky.mean(axis=1), steady.mean(axis=1), equal_var=False)
    assert t.image_variance == 0 and t.p == pytest.approx(welch.pvalue) and t.df == pytest.approx(welch.df)
    low, high = t.interval(0.95)
    assert low < -0.15 and high > 0.2


def test_configuration_t_on_the_issue_examples():
    """Issue 26: seeds 84/85/86% vs 82/83/84% on 1,890 images read "better" (two-level bootstrap p = 0.038) where
    Welch's t on the seeds gives 0.07: the t over seeds and images agrees with Welch here. A steady 8-point gap over 3
    seeds is found (p < 0.001), and the interval and p agree at every level."""
    a, b = seed_group([0.84, 0.85, 0.86], n=1_890, seed=1), seed_group([0.82, 0.83, 0.84], n=1_890, seed=2)
    t = configuration_t(a, b)
    assert 0.06 < t.p < 0.08 and t.interval(0.95)[0] < 0 < t.interval(0.95)[1]
    steady = configuration_t(seed_group([0.90, 0.91, 0.89], seed=3), seed_group([0.82, 0.83, 0.81], seed=4))
    assert steady.p < 0.001 and steady.interval(0.95)[0] > 0.05
    for level in (0.9, 0.93, 0.95, 0.99, 0.999):
        for case in (t, steady):
            low, high = case.interval(level)
            assert (low > 0 or high < 0) == (case.p < 1 - level)


def test_one_configuration_interval_is_wider_than_its_seeds():
    """accuracy.png's group interval: seeds 81/82/83% on 300 images, the t over seeds and test images."""
    t = configuration_t(seed_group([0.82, 0.83, 0.81], seed=5))
    low, high = t.interval(0.95)
    assert t.estimate == pytest.approx(0.82) and low < 0.81 and high > 0.83
