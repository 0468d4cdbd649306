"""The uncertainty sections of REPORT.md: Table 2, Table 3 and the paired comparisons, with what they mean.

report.py puts them after Table 1; groups.py decides what is grouped and paired, verdicts.py and power.py judge a
pair, verdict_text.py words it, tables.py lays out the tables; stats.py does the numbers.
"""

from __future__ import annotations

from har_finetune.reporting import stats, verdict_text
from har_finetune.reporting.groups import Comparison
from har_finetune.reporting.tables import group_rows, markdown_table, run_rows
from har_finetune.reporting.verdicts import MIN_SEEDS


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
    lines += _paired_comparisons_section(comparison)
    return lines


def _paired_comparisons_section(comparison: Comparison) -> list[str]:
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
