"""The uncertainty sections of REPORT.md and their figures: intervals, calibration, seed groups, paired verdicts.

report.py puts them after Table 1; groups.py decides what is grouped and paired, verdicts.py and power.py judge a
pair, verdict_text.py words it; stats.py does the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from har_finetune.reporting import comparison_figures as compare_plots
from har_finetune.reporting import fonts, stats, verdict_text
from har_finetune.reporting.groups import Comparison, ScoredRun, Unit
from har_finetune.reporting.run_figures import save_figure
from har_finetune.reporting.verdicts import MIN_SEEDS

MISSING = "—"


def markdown_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table; '|' inside cells is escaped."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _calibration(runs: list[ScoredRun]) -> stats.Calibration | None:
    """Calibration of the runs' test predictions pooled (a group's seeds: Table 3's ECE); None without confidences."""
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
    """Table 3: per configuration with several seeds, mean ± std, min-max and n of accuracy and macro-F1, and the
    ECE of the seeds' predictions pooled (reliability.png's curve of the group)."""
    rows = []
    for unit in (u for u in comparison.units if u.is_group):
        acc = stats.spread([100 * run.accuracy for run in unit.runs])
        f1 = stats.spread([run.macro_f1 for run in unit.runs])
        calibration = _calibration(unit.runs)
        rows.append(
            {
                "Configuration": unit.name,
                "n": str(acc.n),
                "Test acc mean ± std": f"{acc.mean:.2f} ± {acc.std:.2f}%",
                "Test acc min-max": f"{acc.low:.2f} to {acc.high:.2f}%",
                "Macro-F1 mean ± std": f"{f1.mean:.4f} ± {f1.std:.4f}",
                "Macro-F1 min-max": f"{f1.low:.4f} to {f1.high:.4f}",
                "ECE (seeds pooled)": MISSING if calibration is None else f"{calibration.ece:.4f}",
                "Runs": ", ".join(run.name for run in unit.runs),
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
            "Runs whose settings differ only in `--seed` (run_config.json `identity` without `seed`), scored on the "
            "same test images, form a group (a folder with the same identity and seed as another counts once); std "
            "is the sample standard deviation over the seeds; the ECE pools the seeds' predictions (reliability.png).",
            "",
        ]
    lines += _pairs_section(comparison)
    return lines


def _pairs_section(comparison: Comparison) -> list[str]:
    if len(comparison.units) < 2:
        return []
    lines = ["## Paired comparisons (test)", ""]
    lines += [f"**Warning:** {warning}." for warning in comparison.warnings]
    lines += [""] if comparison.warnings else []
    lines += [line for pair in comparison.pairs for line in verdict_text.pair_lines(pair)]
    if comparison.pairs:
        rows = verdict_text.pair_rows(comparison.pairs)
        lines += ["", markdown_table(rows, list(rows[0])), "", PAIRS_NOTE.format(n=stats.N_RESAMPLES, k=MIN_SEEDS), ""]
    if comparison.unpaired:
        lines += ["Not compared (a paired test needs the same test images):", ""]
        lines += [f"- {reason}" for reason in comparison.unpaired] + [""]
    return lines


PAIRS_NOTE = (
    "Pairs are scored on the same test images (same ids and labels). Two questions: *configuration* (would a new "
    "seed of A beat a new seed of B on new test images?), asked only of groups of at least {k} seeds each, by a "
    "two-level bootstrap that resamples each group's seeds and the test images together ({n:,} resamples, seed 0); "
    "*these models* (are these trained models more accurate, seeds fixed?), by the exact McNemar test for two runs "
    "(interval: Clopper-Pearson on the discordant images) and a paired bootstrap over test images otherwise. Only a "
    "configuration verdict calls a group better. Each interval comes from the same procedure as its p-value and "
    "excludes 0 exactly when the verdict is significant: with several pairs the p-values are Holm-adjusted within "
    "each question and each interval is at the level Holm's procedure tested that pair at (shown in the table). "
    "Power: the smallest true difference found 80% of the time at the 5% level, from the test images, the "
    "discordance and the seed spread (docs/plots_and_report.md)."
)


RUN_INTERVAL = "run: accuracy, 95% Wilson interval (test images)"
GROUP_INTERVAL = "seeds: mean, 95% two-level bootstrap interval (seeds and test images)"
GROUP_NO_INTERVAL = f"seeds: mean, no interval (fewer than {MIN_SEEDS} seeds)"


def accuracy_rows(comparison: Comparison) -> list[compare_plots.AccuracyRow]:
    """accuracy.png's rows: a run with its Wilson interval; a group's mean with the interval of the configuration's
    accuracy (seeds and test images resampled; none under MIN_SEEDS seeds) and each seed as a point."""
    rows = []
    for unit in comparison.units:
        if not unit.is_group:
            run = unit.runs[0]
            interval = stats.wilson_interval(int(run.correct.sum()), len(run.correct))
            rows.append(compare_plots.AccuracyRow(unit.name, run.accuracy, *interval, RUN_INTERVAL))
            continue
        seeds = tuple(run.accuracy for run in unit.runs)
        low, high, kind = _group_interval(unit)
        rows.append(compare_plots.AccuracyRow(unit.name, unit.accuracy, low, high, kind, seeds))
    return rows


def _group_interval(unit: Unit) -> tuple[float, float, str]:
    if len(unit.runs) < MIN_SEEDS or unit.test_images is None:
        return float("nan"), float("nan"), GROUP_NO_INTERVAL
    matrix = unit.matrix()
    draws = stats.bootstrap_draws(matrix, np.zeros((1, matrix.shape[1])), resample_seeds=True)
    return *stats.bootstrap_interval(draws), GROUP_INTERVAL


def write_figures(comparison: Comparison, out_dir: Path) -> list[Path]:
    """accuracy.png (every run or group with its interval) and reliability.png (one curve per run or group: the
    ECE in its legend is Table 2's for a run, Table 3's for a group)."""
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
