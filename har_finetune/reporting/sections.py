"""The uncertainty sections of REPORT.md and their figures: intervals, calibration, seed groups, paired verdicts.

report.py puts them after Table 1; comparison.py decides what is grouped and paired; stats.py does the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from har_finetune.reporting import comparison_figures as compare_plots
from har_finetune.reporting import fonts, stats
from har_finetune.reporting.groups import Comparison, ScoredRun, format_p, verdict
from har_finetune.reporting.run_figures import save_figure

MISSING = "—"


def markdown_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table; '|' inside cells is escaped."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _calibration(runs: list[ScoredRun]) -> stats.Calibration | None:
    """Calibration of the runs' test predictions pooled (one curve per group of seeds); None without confidences."""
    with_confidence = [run for run in runs if "confidence" in run.predictions.columns]
    if not with_confidence:
        return None
    confidence = np.concatenate([run.predictions["confidence"].to_numpy(float) for run in with_confidence])
    correct = np.concatenate([run.correct for run in with_confidence])
    keep = np.isfinite(confidence)
    return stats.calibration(confidence[keep], correct[keep]) if keep.any() else None


def run_rows(comparison: Comparison) -> list[dict[str, str]]:
    """Table 2: each run's test accuracy with its Wilson interval, macro-F1 and calibration error."""
    rows = []
    for run in comparison.runs:
        low, high = stats.wilson_interval(int(run.correct.sum()), len(run.correct))
        calibration = _calibration([run])
        rows.append(
            {
                "Run": run.name,
                "Test images": f"{len(run.correct):,}",
                "Test acc": f"{100 * run.accuracy:.2f}%",
                "95% CI (Wilson)": f"{100 * low:.2f} to {100 * high:.2f}",
                "Macro-F1": f"{run.macro_f1:.4f}",
                "ECE": MISSING if calibration is None else f"{calibration.ece:.4f}",
            }
        )
    return rows


def group_rows(comparison: Comparison) -> list[dict[str, str]]:
    """Table 3: per configuration with several seeds, mean ± std, min-max and n of accuracy and macro-F1."""
    rows = []
    for unit in (u for u in comparison.units if u.is_group):
        acc = stats.spread([100 * run.accuracy for run in unit.runs])
        f1 = stats.spread([run.macro_f1 for run in unit.runs])
        rows.append(
            {
                "Configuration": unit.name,
                "n": str(acc.n),
                "Test acc mean ± std": f"{acc.mean:.2f} ± {acc.std:.2f}%",
                "Test acc min-max": f"{acc.low:.2f} to {acc.high:.2f}%",
                "Macro-F1 mean ± std": f"{f1.mean:.4f} ± {f1.std:.4f}",
                "Macro-F1 min-max": f"{f1.low:.4f} to {f1.high:.4f}",
                "Runs": ", ".join(run.name for run in unit.runs),
            }
        )
    return rows


def pair_rows(comparison: Comparison) -> list[dict[str, str]]:
    rows = []
    for pair in comparison.pairs:
        rows.append(
            {
                "Better": pair.better.name,
                "Other": pair.worse.name,
                "Difference (points)": f"{100 * pair.difference:+.2f}",
                "95% CI (bootstrap)": f"{100 * pair.low:.2f} to {100 * pair.high:.2f}",
                "Test": pair.test,
                "Only one right": MISSING if pair.discordant is None else "{} vs {}".format(*pair.discordant),
                "p": format_p(pair.p).removeprefix("p = "),
                "p (Holm)": format_p(pair.p_holm).removeprefix("p = "),
            }
        )
    return rows


def sections(comparison: Comparison) -> list[str]:
    """The Markdown lines after Table 1 (nothing when no run has test predictions)."""
    if not comparison.runs:
        return []
    lines = ["## Table 2: test accuracy with uncertainty, and calibration", ""]
    rows = run_rows(comparison)
    lines += [markdown_table(rows, list(rows[0])), ""]
    lines += [
        "95% Wilson score intervals of each accuracy (the images drawn into the test split make it vary this much); "
        f"ECE: expected calibration error over {stats.ECE_BINS} equal-width bins of the `confidence` column of "
        "test_predictions.csv (0 = the confidence matches the accuracy; see reliability.png).",
        "",
    ]
    groups = group_rows(comparison)
    if groups:
        lines += ["## Table 3: seeds of one configuration", "", markdown_table(groups, list(groups[0])), ""]
        lines += [
            "Runs whose settings differ only in `--seed` (run_config.json `identity` without `seed`) on the same "
            "split form a group; std is the sample standard deviation over the seeds.",
            "",
        ]
    lines += _pairs_section(comparison)
    return lines


def _pairs_section(comparison: Comparison) -> list[str]:
    if len(comparison.units) < 2:
        return []
    lines = ["## Paired comparisons (test)", ""]
    lines += [f"- {verdict(pair)}" for pair in comparison.pairs]
    if comparison.pairs:
        rows = pair_rows(comparison)
        lines += ["", markdown_table(rows, list(rows[0])), ""]
        lines += [
            "Pairs are scored on the same test images. The interval is a percentile bootstrap of the accuracy "
            f"difference over test images ({stats.N_RESAMPLES:,} resamples, seed 0). Two single runs: exact McNemar "
            "test on the images only one of them got right. A group of seeds: each image's correctness is averaged "
            "over its seeds and the per-image differences get a paired sign-flip permutation test (the interval "
            "covers the choice of test images; the spread over seeds is in Table 3). p-values are Holm-adjusted "
            f"over the {len(comparison.pairs)} pair(s); significant means adjusted p < 0.05.",
            "",
        ]
    if comparison.unpaired:
        lines += ["", "Not compared (a paired test needs the same test images):", ""]
        lines += [f"- {reason}" for reason in comparison.unpaired] + [""]
    return lines


def accuracy_rows(comparison: Comparison) -> list[compare_plots.AccuracyRow]:
    rows = []
    for unit in comparison.units:
        if unit.is_group:
            seeds = tuple(run.accuracy for run in unit.runs)
            rows.append(compare_plots.AccuracyRow(unit.name, unit.accuracy, min(seeds), max(seeds), seeds))
        else:
            run = unit.runs[0]
            interval = stats.wilson_interval(int(run.correct.sum()), len(run.correct))
            rows.append(compare_plots.AccuracyRow(unit.name, run.accuracy, *interval))
    return rows


def write_figures(comparison: Comparison, out_dir: Path) -> list[Path]:
    """accuracy.png (every run or group with its interval) and reliability.png (one curve per run or group)."""
    if not comparison.runs:
        return []
    names = [unit.name for unit in comparison.units]
    with fonts.covering(names):
        accuracy = compare_plots.accuracy_figure(accuracy_rows(comparison))
        written = [save_figure(accuracy, Path(out_dir) / "accuracy.png")]
        curves = {unit.name: c for unit in comparison.units if (c := _calibration(unit.runs)) is not None}
        if curves:
            written.append(save_figure(compare_plots.reliability_figure(curves), Path(out_dir) / "reliability.png"))
    return written
