"""The words of REPORT.md's paired comparisons: one bullet per pair, its verdicts and power line, and the pair table.

Rules (issue 18): "better" only for a significant decisive verdict (the configuration's for seed groups); a
difference of exactly 0 is a tie; a non-significant pair says so with its signed difference A - B; every interval
stands beside the p-value it is dual to, at the level Holm's procedure used for it.
"""

from __future__ import annotations

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
    test = verdict.test
    if verdict.discordant is not None:
        counts = verdict.discordant[::-1] if flip else verdict.discordant
        test += ", {} vs {} images only one got right".format(*counts)
    p = format_p(verdict.p_holm) + (f", Holm-adjusted over {verdict.family} pairs" if verdict.family > 1 else "")
    return f"{ci}; {test}, {p}"


def flips(verdict: Verdict, may_say_better: bool) -> bool:
    """Whether `claim` names B first (B is better), so that the evidence is given as B - A."""
    return may_say_better and verdict.significant and verdict.difference < 0


def claim(verdict: Verdict, a: str, b: str, may_say_better: bool = True, named: bool = True) -> str:
    """`**A is better than B** by X points`, `A vs B: **no significant difference**, A - B = +x points` or a tie;
    without `may_say_better` a significant difference is "A's models score higher" (these models, not the
    configuration); without `named` the leading `A vs B: ` is left to the bullet above."""
    prefix = f"{a} vs {b}: " if named else ""
    signed = f"{a} - {b} = {points(verdict.difference, True)} points"
    if verdict.difference == 0:
        return f"{prefix}**tie**, the same accuracy"
    if verdict.significant and may_say_better:
        better, worse = (a, b) if verdict.difference > 0 else (b, a)
        return f"**{better} is better than {worse}** by {points(abs(verdict.difference))} points"
    if verdict.significant:
        ahead = a if verdict.difference > 0 else b
        return f"{prefix}**{ahead}'s models score higher**, {signed}"
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
    """`Power: with 1,890 test images and 3 seeds per model, differences under X points cannot be told apart ...`"""
    p = pair.power
    k_a, k_b = p.seeds
    if p.discordant is not None:
        setting = f"with {p.images:,} test images, {p.discordant:,} of them discordant"
    elif k_a == k_b:
        setting = f"with {p.images:,} test images and {k_a} seeds per model"
    else:
        setting = f"with {p.images:,} test images and {k_a} vs {k_b} seeds"
    line = f"Power: {setting}, differences under {points(p.detectable)} points cannot be told apart (80% power, "
    unknown = 1 in p.seeds and k_a != k_b
    line += "5% level; a single run's seed spread is unknown and not counted)" if unknown else "5% level)"
    observed = abs(pair.difference)
    if min(p.seeds) < 2 or observed == 0:
        return line + "."
    if observed >= p.detectable:
        return line + f"; the observed {points(observed)} points is above that."
    if p.seeds_needed is None:
        return line + (
            f"; no number of seeds would resolve the observed {points(observed)} points with these {p.images:,} test "
            f"images (they alone hide differences under {points(p.image_only)} points)."
        )
    needed = max(p.seeds_needed, MIN_SEEDS)
    count = f"more than {needed - 1:,}" if needed > 1_000 else f"about {needed:,}"
    return line + f"; {count} seeds per model would resolve the observed {points(observed)} points."


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
    if verdict.difference == 0:
        return "tie"
    if not verdict.significant:
        return "no significant difference"
    ahead = pair.a.name if verdict.difference > 0 else pair.b.name
    return f"{ahead} better" if verdict is pair.decisive and not pair.needs_seeds else f"{ahead}'s models higher"
