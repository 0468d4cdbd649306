"""The power line of REPORT.md against hand computation (z_0.975 = 1.959964, z_0.80 = 0.841621, sum 2.801585).

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_power.py -q
"""

import math

import pytest

from har_finetune.reporting import power

Z = 1.959964 + 0.841621


def test_z_sum():
    assert power.z_sum() == pytest.approx(Z, abs=1e-6)


def test_two_runs_on_1890_images_with_10_percent_discordant():
    """sqrt(0.1 / 1890) = 0.0072739; times 2.801585: 0.020379, "differences under 2.04 points"."""
    se = power.standard_error(0.1, 1890)
    assert se == pytest.approx(0.0072739, abs=1e-7)
    assert power.minimum_detectable(se) == pytest.approx(0.020379, abs=1e-6)


def test_groups_of_three_seeds_and_the_seeds_they_need():
    """300 images, mean squared per-image difference 0.03, seed std 2 points in both groups (variance 0.0004):
    se^2 = 0.03/300 + 0.0004/3 + 0.0004/3 = 0.0001 + 0.00026667 = 0.00036667, se = 0.019149, detectable 5.36 points.
    For 4 points: 0.0008/k <= (0.04/2.801585)^2 - 0.0001 = 0.00020385 - 0.0001, k >= 7.70: 8 seeds per model."""
    se = power.standard_error(0.03, 300, 0.0004, 3, 0.0004, 3)
    assert se == pytest.approx(math.sqrt(0.00036667), rel=1e-4)
    assert power.minimum_detectable(se) == pytest.approx(0.053646, abs=2e-6)
    assert power.seeds_needed(0.04, 0.03, 300, 0.0004, 0.0004) == 8
    se8 = power.standard_error(0.03, 300, 0.0004, 8, 0.0004, 8)
    assert power.minimum_detectable(se8) <= 0.04 < power.minimum_detectable(power.standard_error(0.03, 300, 0.0004, 7,
                                                                                                0.0004, 7))  # fmt: skip
    # 1 point: (0.01/2.801585)^2 = 0.0000127 < 0.0001 from the images alone: no number of seeds is enough
    assert power.seeds_needed(0.01, 0.03, 300, 0.0004, 0.0004) is None
