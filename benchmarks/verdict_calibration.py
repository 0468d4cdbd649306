"""How often the report's configuration verdict says "better", when it is false and when it is true (issue 26).

    python benchmarks/verdict_calibration.py               # 2,000 repetitions per case (Monte Carlo error 0.5 points
                                                           # at 5%): 4-7 minutes on one shared core
    python benchmarks/verdict_calibration.py --seed_sd 0.8 # seeds closer together: the test images matter more
    python benchmarks/verdict_calibration.py --reps 300    # quicker

Two configurations A and B, k seeds each, scored on the same 1,890 test images (HAR's test split). Each seed is
right on image i with chance logistic(c + hardness * z[i] + b[seed]): z[i] ~ N(0, 1) is how hard image i is for the
configuration, b[seed] ~ N(0, sd) the seed's luck, tuned so that the seeds' accuracies differ by 1.5 points (sd) on
one test set; c sets the population accuracy (85% for B, 85% + the difference for A). Two nulls, both with the same
population accuracy: "same images hard" (z shared by A and B) and "different images hard" (independent z: on a given
test set one configuration can be ahead by luck of the images, which a test over seeds alone does not see). Each
repetition draws new test images and seeds and runs the report's own verdict code (`verdicts.configuration_verdict`,
what `compare_pair` calls, one pair so Holm leaves it alone) and, beside it, Welch's t on the seeds' accuracies.
Printed per case: how often "better" is said (for a true difference: A called better than B) with its Monte Carlo
standard error sqrt(r (1 - r) / reps). Figures: docs/performance.md, "Verdict calibration".
"""

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from har_finetune.reporting import verdicts  # noqa: E402

NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(60)  # E f(u), u ~ N(0, 1) = sum(WEIGHTS * f(NODES)) / sqrt(2 pi)
WEIGHTS = WEIGHTS / math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class World:
    """Where the seeds and test images come from; `difference` is A's population accuracy minus B's."""

    same_images_hard: bool
    difference: float = 0.0
    images: int = 1_890
    accuracy: float = 0.85  # B's population accuracy
    seed_sd: float = 0.015  # of a seed's accuracy on one test set
    hardness: float = 2.5  # sd of the image difficulty on the logit scale: most images right or wrong for every seed


def _mean_accuracy(offset: float, sd: float) -> float:
    """E logistic(offset + sd * u), u ~ N(0, 1)."""
    return float(WEIGHTS @ special.expit(offset + sd * NODES))


def _offset(accuracy: float, world: World, luck: float) -> float:
    """The c that gives the population `accuracy` (image difficulty and seed luck are independent normals)."""
    sd = math.hypot(world.hardness, luck)
    return optimize.brentq(lambda c: _mean_accuracy(c, sd) - accuracy, -20, 20)


def _seed_sd(world: World, luck: float) -> float:
    """sd of a seed's accuracy on one test set: the luck's share plus the seed-by-image coin flips over n images."""
    c = _offset(world.accuracy, world, luck)
    per_seed = np.array([_mean_accuracy(c + luck * b, world.hardness) for b in NODES])
    spread = WEIGHTS @ (per_seed - WEIGHTS @ per_seed) ** 2
    flips = WEIGHTS @ np.array([_mean_accuracy(c + luck * b, world.hardness) - _mean_square(c + luck * b, world)
                                for b in NODES])  # fmt: skip
    return math.sqrt(spread + flips / world.images)


def _mean_square(offset: float, world: World) -> float:
    return float(WEIGHTS @ special.expit(offset + world.hardness * NODES) ** 2)


def luck_for(world: World) -> float:
    """The seed luck sd (logit scale) that makes the seeds' accuracies differ by `world.seed_sd`."""
    floor = _seed_sd(world, 1e-4)
    if world.seed_sd <= floor:
        raise SystemExit(f"--seed_sd {100 * world.seed_sd:g}: the seed-by-image coin flips alone spread the seeds by "
                         f"{100 * floor:.2f} points on {world.images:,} images; give more")  # fmt: skip
    return optimize.brentq(lambda luck: _seed_sd(world, luck) - world.seed_sd, 1e-4, 5.0)


def draw_groups(world: World, seeds: int, luck: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One repetition: correctness matrices (seeds x images) of A and B on one new test set."""
    offsets = (_offset(world.accuracy + world.difference, world, luck), _offset(world.accuracy, world, luck))
    hard_a = rng.standard_normal(world.images)
    hard_b = hard_a if world.same_images_hard else rng.standard_normal(world.images)
    matrices = []
    for offset, hard in zip(offsets, (hard_a, hard_b)):
        logits = offset + world.hardness * hard[None, :] + luck * rng.standard_normal((seeds, 1))
        matrices.append((rng.random((seeds, world.images)) < special.expit(logits)).astype(float))
    return matrices[0], matrices[1]


@dataclass(frozen=True)
class Rates:
    report: float  # share of repetitions where the report's verdict said "better" (A better, for a true difference)
    welch: float
    reps: int

    def error(self, rate: float) -> float:
        """Monte Carlo standard error of a share."""
        return math.sqrt(rate * (1 - rate) / self.reps)


def said_better(world: World, seeds: int, reps: int, seed: int = 0) -> Rates:
    """How often the report's configuration verdict and Welch's t (5% level) call a configuration better: either
    one under a null, A (the truly better) under a true difference."""
    rng, luck = np.random.default_rng(seed), luck_for(world)
    wanted = {1} if world.difference > 0 else {1, -1}
    report = welch = 0
    for _ in range(reps):
        a, b = draw_groups(world, seeds, luck, rng)
        verdict = verdicts.configuration_verdict(a, b)
        verdicts.adjust_family([verdict])
        report += verdict.ahead in wanted
        with warnings.catch_warnings():  # seeds of equal accuracy: scipy warns of precision loss, the p is right
            warnings.simplefilter("ignore", RuntimeWarning)
            test = stats.ttest_ind(a.mean(axis=1), b.mean(axis=1), equal_var=False)
        welch += test.pvalue < verdicts.ALPHA and int(np.sign(test.statistic)) in wanted
    return Rates(report / reps, welch / reps, reps)


CASES = [(True, 0.0), (False, 0.0)] + [(False, d) for d in (0.01, 0.02, 0.03, 0.05, 0.08)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2_000, help="repetitions per case")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10], help="seeds per configuration")
    parser.add_argument("--images", type=int, default=1_890, help="test images")
    parser.add_argument("--seed_sd", type=float, default=1.5, help="seed-to-seed sd of accuracy, in points")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    base = World(True, images=args.images, seed_sd=args.seed_sd / 100)
    print(f"{args.images:,} test images, population accuracy {100 * base.accuracy:.0f}%, seed sd {args.seed_sd} "
          f"points, {args.reps:,} repetitions per case;")  # fmt: skip
    print("how often 'better' is said (5% level), +- its Monte Carlo error\n")
    print("| seeds | images hard for A and B | true difference (points) | report's verdict | Welch's t on seeds |")
    print("|---|---|---|---|---|")
    for seeds in args.seeds:
        for same, difference in CASES:
            world = replace(base, same_images_hard=same, difference=difference)
            rates = said_better(world, seeds, args.reps, seed=seeds)
            cells = [f"{100 * r:.1f}% +- {100 * rates.error(r):.1f}" for r in (rates.report, rates.welch)]
            hard = "the same" if same else "different"
            print(f"| {seeds} | {hard} | {100 * difference:.0f} | {cells[0]} | {cells[1]} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
