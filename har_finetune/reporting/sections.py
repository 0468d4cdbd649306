"""The uncertainty sections of the report: Table 2, Table 3 and the paired comparisons, with what they mean.

report.py puts them after Table 1; groups.py decides what is grouped and paired, verdicts.py and power.py judge a
pair, verdict_text.py words it, tables.py lays out the tables; stats.py does the numbers.
"""

from __future__ import annotations

from har_finetune.reporting import stats, verdict_text
from har_finetune.reporting.document import BulletList, Item, Paragraph, Section, Table
from har_finetune.reporting.groups import Comparison
from har_finetune.reporting.tables import group_rows, run_rows
from har_finetune.reporting.verdicts import MIN_SEEDS


def sections(comparison: Comparison) -> list[Section]:
    """The sections after Table 1 (none when no run has test predictions)."""
    if not comparison.runs:
        return []
    table2 = Table.of(run_rows(comparison))
    found = [
        Section(
            "accuracy", "Table 2: test accuracy with uncertainty, and calibration", (table2, Paragraph(TABLE2_NOTE))
        )
    ]
    groups = group_rows(comparison)
    if groups:
        table3 = Table.of(groups)
        found.append(Section("seed-groups", "Table 3: seeds of one configuration", (table3, Paragraph(TABLE3_NOTE))))
    if len(comparison.units) >= 2:
        found.append(Section("paired-comparisons", "Paired comparisons (test)", paired_comparison_blocks(comparison)))
    return found


def paired_comparison_blocks(comparison: Comparison) -> tuple:
    blocks = [Paragraph(f"**Warning:** {warning}.", "warning") for warning in comparison.warnings]
    if comparison.pairs:
        lines = [line for pair in comparison.pairs for line in verdict_text.pair_lines(pair)]
        blocks.append(BulletList(nested_items(lines)))
        rows = verdict_text.pair_rows(comparison.pairs)
        blocks += [Table.of(rows), Paragraph(PAIRS_NOTE.format(n=stats.N_RESAMPLES, k=MIN_SEEDS))]
    if comparison.unpaired:
        blocks.append(Paragraph("Not compared (a paired test needs the same test images):"))
        blocks.append(BulletList(tuple(Item(reason) for reason in comparison.unpaired)))
    return tuple(blocks)


def nested_items(lines: list[str]) -> tuple[Item, ...]:
    """verdict_text's bullet lines (`- pair`, `  - verdict`) as items with their nested items."""
    items: list[Item] = []
    for line in lines:
        if line.startswith("  - ") and items:
            items[-1] = Item(items[-1].text, (*items[-1].children, Item(line.removeprefix("  - "))))
        else:
            items.append(Item(line.removeprefix("- ")))
    return tuple(items)


TABLE2_NOTE = (
    "95% Wilson score intervals of each accuracy (the images drawn into the test split make it vary this much); "
    f"ECE: expected calibration error over {stats.ECE_BINS} equal-width bins of the `confidence` column of "
    "test_predictions.csv (0 = the confidence matches the accuracy; see reliability.png)."
)
TABLE3_NOTE = (
    "Runs whose settings differ only in `--seed` (run_config.json `identity` without `seed`), scored on the "
    "same test images, form a group (a folder with the same identity and seed as another counts once); std "
    "is the sample standard deviation over the seeds; the ECE pools the seeds' predictions (reliability.png)."
)
PAIRS_NOTE = (
    "Pairs are scored on the same test images (same ids and labels). Two questions: *configuration* (would a new "
    "seed of A beat a new seed of B on new test images?), asked only of groups of at least {k} seeds each, by a t "
    "over seeds and test images (each group's seed variance plus the paired test images' part, Welch-Satterthwaite "
    "degrees of freedom; how often it says better: benchmarks/verdict_calibration.py); "
    "*these models* (are these trained models more accurate, seeds fixed?), by the exact McNemar test for two runs "
    "(interval: Clopper-Pearson on the discordant images) and a paired bootstrap over test images otherwise ({n:,} "
    "resamples, seed 0). Only a configuration verdict calls a group better. The seeds vary initialisation and data "
    "order; the split is fixed by `--split_seed`, so the intervals leave out how much another split would change "
    "the numbers. Each interval comes from the same procedure as its p-value and excludes 0 exactly when the verdict "
    "is significant: with several pairs the p-values are Holm-adjusted within each question and each interval is at "
    "the level Holm's procedure tested that pair at (shown in the table). Power: the true difference the verdict's "
    "own test finds 80% of the time at the 5% level (docs/plots_and_report.md)."
)
