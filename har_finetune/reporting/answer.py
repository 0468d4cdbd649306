"""The report's first paragraph: its answer, before any table (issue 26).

Per compared pair, in plain words: the verdict (the configuration's for seed groups, else these trained models'),
the difference with its interval (at the level the verdict used), and the seeds and test images it rests on; seeds
left out of their group for being scored on other test images are named. A report on the demo's generated images
says that it is a smoke test, not a HAR result.
"""

from __future__ import annotations

from har_finetune.data.synthetic import FOLDER_NAME as GENERATED_DATASET
from har_finetune.reporting.groups import Comparison
from har_finetune.reporting.scored import Unit
from har_finetune.reporting.verdict_text import claim, flips, points
from har_finetune.reporting.verdicts import MIN_SEEDS, Pair, Verdict

MOST_PAIRS = 6  # pairs spelled out here; the rest are in "Paired comparisons"


def answer(comparison: Comparison, datasets: list[str]) -> str | None:
    """The opening paragraph (inline Markdown), or None when no run has test predictions."""
    if not comparison.runs:
        return None
    sentences = [_smoke_test()] if datasets and set(datasets) == {GENERATED_DATASET} else []
    sentences += [pair_sentence(pair) for pair in comparison.pairs[:MOST_PAIRS]]
    if len(comparison.pairs) > MOST_PAIRS:
        sentences.append(f"{len(comparison.pairs) - MOST_PAIRS} more pairs are under *Paired comparisons*.")
    if not comparison.pairs:
        sentences += [unit_sentence(unit) for unit in comparison.units]
    if comparison.unpaired:
        count = len(comparison.unpaired)
        sentences.append(
            f"{count} pair{'s' if count > 1 else ''} not compared: scored on different test images (*Paired "
            "comparisons* says why)."
        )
    return " ".join(sentences)


def _smoke_test() -> str:
    return (
        "**Smoke test on generated images** (colour-coded stand-ins with the HAR class names), **not a HAR "
        "result**: it shows that training, evaluation and this report work, nothing about CLIP or SigLIP."
    )


def pair_sentence(pair: Pair) -> str:
    """`**B is better than A** by X points (95% CI ...), from 3 + 3 seeds on 1,890 test images.`, or its kin."""
    a, b = pair.a.name, pair.b.name
    decisive, may_say_better = pair.decisive, not pair.needs_seeds
    said = f"{claim(decisive, a, b, may_say_better)} ({_interval(decisive, flips(decisive, may_say_better))})"
    images = f"{decisive.images:,} test images"
    if pair.configuration is not None:
        rests = f"as configurations, from {len(pair.a.runs)} + {len(pair.b.runs)} seeds on {images}"
    elif pair.needs_seeds:
        rests = (
            f"for these trained models (seeds fixed) on {images}; as configurations not assessed "
            f"({len(pair.a.runs)} + {len(pair.b.runs)} seeds, at least {MIN_SEEDS} per model needed)"
        )
    else:
        rests = f"for these two trained models, one run each on {images} (a new seed may score differently)"
    return f"{said}, {rests}{_left_out(pair.a)}{_left_out(pair.b)}."


def unit_sentence(unit: Unit) -> str:
    """What a report without pairs says of a run or group: its accuracy and what it rests on."""
    images = len(unit.runs[0].correct)
    seeds = f"mean of {len(unit.runs)} seeds" if unit.is_group else "one run"
    accuracy = f"test accuracy {100 * unit.accuracy:.2f}% ({seeds} on {images:,} test images)"
    return f"{unit.name}: {accuracy}{_left_out(unit)}."


def _interval(verdict: Verdict, flip: bool) -> str:
    low, high = (-verdict.high, -verdict.low) if flip else (verdict.low, verdict.high)
    return f"{100 * verdict.level:.4g}% CI {points(low)} to {points(high)}"


def _left_out(unit: Unit) -> str:
    if not unit.elsewhere:
        return ""
    names = ", ".join(run.name for run in unit.elsewhere)
    return f"; {names} left out of {unit.name}: scored on other test images"
