"""The words of REPORT.md's paired comparisons: one bullet per pair, its verdicts and power line, and the pair table.

Rules (issues 18, 26): "better" only for a significant decisive verdict (the configuration's for seed groups); a
pair that is not significant, a difference of exactly 0 included, is "no significant difference" with its signed
difference A - B and interval; every interval stands beside the p-value it is dual to, at the level Holm's procedure
used for it; the power line is that of the verdict's own test, worded as what it is.
"""

from __future__ import annotations

from har_finetune.reporting import power
from har_finetune.reporting.verdicts import CONFIGURATION, MIN_SEEDS, Pair, Verdict

MISSING = "—"


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def points(fraction: float, signed: bool = False) -> str:
    return f"{100 * fraction:+.2f}" if signed else f"{100 * fraction:.2f}"


def level_text(verdict: Verdict) -> str:
    """`95% CI`, or with several pairs `98.33% CI (Holm level)`."""
    level = f"{100 * verdict.level:.4g}% CI"
    return level if verdict.family == 1 else f"{level} (Holm level)"


def evidence(verdict: Verdict, flip: bool = False) -> str:
    """`95% CI a to b; exact McNemar, 16 vs 6 images only one got right, p = 0.052` (+ Holm note); with `flip`, the
    interval and counts of B - A (when the claim names B first)."""
    low, high = (-verdict.high, -verdict.low) if flip else (verdict.low, verdict.high)
    ci = f"{level_text(verdict)} {points(low)} to {points(high)}"
    test = verdict.test if verdict.t is None else f"{verdict.test}, {verdict.t.df:.1f} df (Welch-Satterthwaite)"
    if verdict.discordant is not None:
        counts = verdict.discordant[::-1] if flip else verdict.discordant
        test += ", {} vs {} images only one got right".format(*counts)
    p = format_p(verdict.p_holm) + (f", Holm-adjusted over {verdict.family} pairs" if verdict.family > 1 else "")
    return f"{ci}; {test}, {p}"


def flips(verdict: Verdict, may_say_better: bool) -> bool:
    """Whether `claim` names B first (B is better), so that the evidence is given as B - A."""
    return may_say_better and verdict.ahead < 0


def claim(verdict: Verdict, a: str, b: str, may_say_better: bool = True, named: bool = True) -> str:
    """`**A is better than B** by X points` or `A vs B: **no significant difference**, A - B = +x points` (also for
    +0.00: an equal score is not shown to be a tie); without `may_say_better` a significant difference is "A's models
    score higher" (these models, not the configuration); without `named` the leading `A vs B: ` is left to the
    bullet above."""
    prefix = f"{a} vs {b}: " if named else ""
    signed = f"{a} - {b} = {points(verdict.difference, True)} points"
    if verdict.ahead and may_say_better:
        better, worse = (a, b) if verdict.ahead > 0 else (b, a)
        return f"**{better} is better than {worse}** by {points(abs(verdict.difference))} points"
    if verdict.ahead:
        return f"{prefix}**{a if verdict.ahead > 0 else b}'s models score higher**, {signed}"
    return f"{prefix}**no significant difference**, {signed}"


def pair_lines(pair: Pair) -> list[str]:
    """The bullet of one pair: for two single runs one line plus power; for groups a sub-bullet per question."""
    a, b = pair.a.name, pair.b.name
    if not (pair.a.is_group or pair.b.is_group):
        v = pair.models
        line = f"- {claim(v, a, b)} (these two trained models; {evidence(v, flips(v, True))})."
        return [line, f"  - {power_line(pair)}"]
    lines = [f"- {a} vs {b}:"]
    if pair.configuration is not None:
        v = pair.configuration
        said = f"{claim(v, a, b, named=False)} ({evidence(v, flips(v, True))})"
        lines.append(f"  - Configuration (a new seed of each on new test images): {said}.")
    else:
        counts = f"{a} has {len(pair.a.runs)}, {b} has {len(pair.b.runs)}"
        lines.append(
            f"  - Configuration: **not assessed**: a claim about the configuration needs at least {MIN_SEEDS} seeds "
            f"per model ({counts})."
        )
    v = pair.models
    lines.append(
        f"  - These trained models only (seeds fixed, test images resampled; says nothing about a new seed): "
        f"{claim(v, a, b, may_say_better=False, named=False)} ({evidence(v, flips(v, False))})."
    )
    return lines + [f"  - {power_line(pair)}"]


def power_line(pair: Pair) -> str:
    """`Power: a true difference of X points would be found 80% of the time with these seeds and images (...)`, from
    the decisive verdict's own test; for groups, the seeds that would find the observed difference and how far that
    number may be off (the seed spread comes from few seeds)."""
    p = pair.power
    k_a, k_b = p.seeds
    found = f"a true difference of {points(p.detectable)} points would be found 80% of the time"
    if p.question != CONFIGURATION:
        if p.discordant is not None:
            images = f"{p.images:,} test images ({p.discordant:,} discordant; 5% level)"
            return f"Power: {found} with these two models' {images}."
        return f"Power (these trained models, seeds fixed): {found} on these {p.images:,} test images (5% level)."
    seeds = f"{k_a} seeds per model" if k_a == k_b else f"{k_a} vs {k_b} seeds"
    line = f"Power: {found} with these seeds and images ({seeds}, {p.images:,} test images; 5% level, t on "
    line += f"{p.df:.1f} df)"
    observed = abs(pair.difference)
    if observed == 0:
        return line + "."
    if p.seeds_needed is None:
        return line + (
            f". No number of seeds would find the observed {points(observed)} points 80% of the time with these "
            f"{p.images:,} test images (even unlimited seeds would find only differences of {points(p.image_only)} "
            "points or more 80% of the time)."
        )
    low, high = (p.seed_sd * f for f in p.sd_range)
    fewest, most = (_seeds(n) for n in p.seeds_needed_range)
    return line + (
        f". To find the observed {points(observed)} points 80% of the time: about {_seeds(p.seeds_needed)} seeds per "
        f"model, from a seed sd of {points(p.seed_sd)} points measured on {k_a} + {k_b} seeds; the true sd may be "
        f"{points(low)} to {points(high)} points (95%), which would need {fewest} to {most}."
    )


def _seeds(needed: int | None) -> str:
    """A seeds-needed figure in words: none suffices, more than the most we count, or at least MIN_SEEDS."""
    if needed is None:
        return "no number"
    return f"more than {power.MAX_SEEDS:,}" if needed > power.MAX_SEEDS else f"{max(needed, MIN_SEEDS):,}"


def pair_rows(pairs: list[Pair]) -> list[dict[str, str]]:
    """The pair table: A, B, A - B first; a row per question (a configuration row says when seeds are too few)."""
    rows = []
    for pair in pairs:
        first = {"A": pair.a.name, "B": pair.b.name, "A - B (points)": points(pair.difference, True)}
        if pair.needs_seeds:
            rows.append({**first, "Question": CONFIGURATION, **dict.fromkeys(("Interval", "p", "p (Holm)", "Test",
                         "Only one right"), MISSING), "Verdict": f"needs ≥ {MIN_SEEDS} seeds per model"})  # fmt: skip
        for v in pair.verdicts:
            rows.append(
                {
                    **first,
                    "Question": v.question,
                    "Interval": f"{points(v.low)} to {points(v.high)} ({100 * v.level:.4g}%)",
                    "p": format_p(v.p).removeprefix("p = "),
                    "p (Holm)": format_p(v.p_holm).removeprefix("p = "),
                    "Test": v.test,
                    "Only one right": MISSING if v.discordant is None else "{} vs {}".format(*v.discordant),
                    "Verdict": table_verdict(pair, v),
                }
            )
    return rows


def table_verdict(pair: Pair, verdict: Verdict) -> str:
    if not verdict.ahead:
        return "no significant difference"
    ahead = pair.a.name if verdict.ahead > 0 else pair.b.name
    return f"{ahead} better" if verdict is pair.decisive and not pair.needs_seeds else f"{ahead}'s models higher"
