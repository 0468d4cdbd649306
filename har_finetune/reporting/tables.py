"""The tables of the report, as rows of cell strings: Table 1 (results per run, from all_results.json), Table 2
(accuracy with its interval, macro-F1, calibration), Table 3 (seeds of one configuration), and the most confused
class pairs. The pair table is worded in verdict_text.py; document.Table.of makes any of them a table block.
"""

from __future__ import annotations

import pandas as pd

from har_finetune.reporting import stats
from har_finetune.reporting.document import Paragraph, Section, Table, anchor
from har_finetune.reporting.groups import Comparison
from har_finetune.reporting.run_figures import RunPlots
from har_finetune.reporting.scored import Unit, pooled_calibration

MISSING = "—"


TABLE_COLUMNS = [
    "Model",
    "Parameters",
    "Best val acc",
    "Test acc",
    "Test macro-F1",
    "s / epoch",
    "Train img/s",
    "Peak GPU mem",
    "Epochs",
]


def _fmt(value, spec: str, suffix: str = "") -> str:
    return MISSING if value is None or pd.isna(value) else f"{value:{spec}}{suffix}"


def _parameters(count: int | None) -> str:
    if count is None:
        return MISSING
    return f"{count / 1e6:.1f} M" if count >= 1e6 else f"{count:,}"  # tiny smoke-test models stay readable


def summary_row(run: RunPlots) -> dict[str, str]:
    """One row of the report's Table 1, from all_results.json (and the log while a run is unfinished)."""
    results = run.record.results
    evals = run.evals if run.evals is not None else pd.DataFrame()
    best_val = results.get("best_validation_accuracy")
    if best_val is None and "eval_accuracy" in evals.columns:
        best_val = evals["eval_accuracy"].max()
    epochs = results.get("epochs")
    if epochs is None and run.train is not None and "epoch" in run.train.columns:
        epochs = run.train["epoch"].max()
    params = results.get("num_parameters")
    return {
        "Model": run.name + ("" if results else " (unfinished)"),
        "Parameters": _parameters(params),
        "Best val acc": _fmt(None if best_val is None else 100 * best_val, ".2f", "%"),
        "Test acc": _fmt(None if results.get("test_accuracy") is None else 100 * results["test_accuracy"], ".2f", "%"),
        "Test macro-F1": _fmt(results.get("test_macro_f1"), ".4f"),
        "s / epoch": _fmt(results.get("seconds_per_epoch"), ".1f"),
        "Train img/s": _fmt(results.get("train_samples_per_second"), ".1f"),
        "Peak GPU mem": _fmt(results.get("peak_gpu_memory_gb"), ".2f", " GB"),
        "Epochs": _fmt(None if epochs is None else round(float(epochs), 2), "g"),  # an unfinished run: 1.97
    }


def zero_shot_row(run: RunPlots) -> dict[str, str] | None:
    """The baseline row of a run trained with `--zero_shot` (zero_shot_results.json): same test split, no training."""
    results = run.record.zero_shot_results
    if results is None:
        return None
    accuracy = results.get("test_accuracy")
    return {
        **dict.fromkeys(TABLE_COLUMNS, MISSING),
        "Model": f"{run.name} zero-shot",
        "Epochs": "0",
        "Test acc": _fmt(None if accuracy is None else 100 * accuracy, ".2f", "%"),
        "Test macro-F1": _fmt(results.get("test_macro_f1"), ".4f"),
    }


def confused_pairs(predictions: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` most frequent (true, predicted) mistakes, with their share of the true class."""
    support = predictions["label"].value_counts()
    wrong = predictions[predictions["label"] != predictions["prediction"]]
    if wrong.empty:  # a perfect run: nothing to count (and pandas cannot divide an empty groupby)
        return pd.DataFrame(columns=["label", "prediction", "images", "share"])
    pairs = wrong.groupby(["label", "prediction"]).size().rename("images").reset_index()
    pairs["share"] = pairs["images"] / pairs["label"].map(support)
    return pairs.sort_values(["images", "label", "prediction"], ascending=[False, True, True]).head(top)


def run_rows(comparison: Comparison) -> list[dict[str, str]]:
    """Table 2: each run's test accuracy with its Wilson interval, macro-F1 and calibration error."""
    rows = []
    for run in comparison.runs:
        low, high = stats.wilson_interval(int(run.correct.sum()), len(run.correct))
        calibration = pooled_calibration([run])
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
        calibration = pooled_calibration(unit.runs)
        rows.append(
            {
                "Configuration": unit.name,
                "n": str(acc.n),
                "Test acc mean ± std": f"{acc.mean:.2f} ± {acc.std:.2f}%",
                "Test acc min-max": f"{acc.low:.2f} to {acc.high:.2f}%",
                "Macro-F1 mean ± std": f"{f1.mean:.4f} ± {f1.std:.4f}",
                "Macro-F1 min-max": f"{f1.low:.4f} to {f1.high:.4f}",
                "ECE (seeds pooled)": MISSING if calibration is None else f"{calibration.ece:.4f}",
                "Runs": ", ".join(run.name for run in unit.runs) + _left_out(unit),
            }
        )
    return rows


def _left_out(unit: Unit) -> str:
    """Seeds of the same settings scored on other test images: named in the group's row, not only under "Not
    compared" (they are not in the mean)."""
    names = ", ".join(run.name for run in unit.elsewhere)
    return f"; not in the group, scored on other test images: {names}" if names else ""


def confused_pairs_section(run: RunPlots) -> Section:
    """A run's subsection of "Most confused class pairs (test)"."""
    predictions = run.record.predictions
    pairs = None if predictions is None else confused_pairs(predictions)
    if pairs is None:
        block = Paragraph("No test_predictions.csv yet.")
    elif pairs.empty:
        block = Paragraph("No mistakes on the test split.")
    else:
        rows = [
            {
                "True class": r.label,
                "Predicted as": r.prediction,
                "Images": int(r.images),
                "Share of true class": f"{100 * r.share:.1f}%",
            }
            for r in pairs.itertuples()
        ]
        block = Table.of(rows)
    return Section(f"confused-{anchor(run.name)}", run.name, (block,))
