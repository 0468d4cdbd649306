"""Per-run plots, overlay figures and the CLIP-vs-SigLIP comparison report (REPORT.md).

Run: `python plot_metrics.py outputs/clip outputs/siglip --out outputs/compare`; open outputs/compare/REPORT.md.
Reads only run folders (docs/run_folder.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from har_finetune import plots
from har_finetune.errors import USAGE_ERROR_EXIT_CODE
from har_finetune.run_folder import reader as rr
from har_finetune.run_folder.files import write_text

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


def summary_row(run: plots.RunPlots) -> dict[str, str]:
    """One row of the report's Table 1, from all_results.json (and the log while a run is unfinished)."""
    results = rr.read_optional_json(run.run_dir / "all_results.json") or {}
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
        "Epochs": _fmt(epochs, "g"),
    }


def zero_shot_row(run: plots.RunPlots) -> dict[str, str] | None:
    """The baseline row of a run trained with `--zero_shot` (zero_shot_results.json): same test split, no training."""
    results = rr.read_optional_json(run.run_dir / "zero_shot_results.json")
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


def markdown_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table; '|' inside cells is escaped."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def confused_pairs(predictions: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` most frequent (true, predicted) mistakes, with their share of the true class."""
    support = predictions["label"].value_counts()
    wrong = predictions[predictions["label"] != predictions["prediction"]]
    pairs = wrong.groupby(["label", "prediction"]).size().rename("images").reset_index()
    pairs["share"] = pairs["images"] / pairs["label"].map(support)
    return pairs.sort_values(["images", "label", "prediction"], ascending=[False, True, True]).head(top)


def split_note(run_dirs: list[Path]) -> str:
    """Say whether all runs were scored on the same test images (otherwise their numbers do not compare)."""
    images = {}
    for run_dir in run_dirs:
        predictions = rr.load_predictions(run_dir)
        if predictions is not None:  # ids are relative to the dataset, so the dataset is part of the key
            root = ((rr.read_optional_json(run_dir / "run_config.json") or {}).get("dataset") or {}).get("root")
            images[run_dir] = {(root, image_id) for image_id in predictions["id"]}
    sets = list(images.values())
    if len(sets) < 2:
        return ""
    if all(s == sets[0] for s in sets):
        return f"All runs were scored on the same {len(sets[0])} test images."
    sizes = " vs ".join(str(len(s)) for s in sets)
    shared = len(set.intersection(*sets))
    return (
        f"**Warning:** the runs were scored on different test images ({sizes}; {shared} shared), "
        "so their test numbers are not comparable."
    )


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    path = Path(path).resolve()
    return path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else str(path)


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def _pairs_section(run: plots.RunPlots) -> list[str]:
    predictions = rr.load_predictions(run.run_dir)
    if predictions is None:
        return [f"### {run.name}", "", "No test_predictions.csv yet.", ""]
    pairs = confused_pairs(predictions)
    if pairs.empty:
        return [f"### {run.name}", "", "No mistakes on the test split.", ""]
    rows = [
        {
            "True class": r.label,
            "Predicted as": r.prediction,
            "Images": int(r.images),
            "Share of true class": f"{100 * r.share:.1f}%",
        }
        for r in pairs.itertuples()
    ]
    return [f"### {run.name}", "", markdown_table(rows, list(rows[0])), ""]


def report_text(runs: list[plots.RunPlots], compare_figures: list[Path], out_dir: Path) -> str:
    """The Markdown of REPORT.md; figures are linked relative to `out_dir` so the report renders on a Git host."""
    command = " ".join(["python plot_metrics.py", *(_shown(r.run_dir) for r in runs), "--out", _shown(out_dir)])
    lines = [f"# {' vs '.join(r.name for r in runs)} on Human Action Recognition", ""]
    lines += [f"Generated by `{command}` from the run folders; test numbers are on each run's held-out test split.", ""]
    rows = [row for r in runs for row in (zero_shot_row(r), summary_row(r)) if row]  # baseline above its run
    lines += ["## Table 1: results", "", markdown_table(rows, TABLE_COLUMNS), ""]
    note = split_note([r.run_dir for r in runs])
    lines += [note, ""] if note else []
    lines += ["Runs: " + ", ".join(f"{r.name} = `{_relative(r.run_dir, out_dir)}`" for r in runs), ""]
    if compare_figures:
        lines += ["## Side by side", ""] + [f"![{p.stem}]({_relative(p, out_dir)})\n" for p in compare_figures]
    lines += ["## Most confused class pairs (test)", ""]
    for run in runs:
        lines += _pairs_section(run)
    lines += ["## Figures per run", ""]
    for run in runs:
        lines += [f"### {run.name}", ""]
        lines += [f"![{run.name} {p.stem}]({_relative(p, out_dir)})\n" for p in run.written] or ["No figures.", ""]
    return "\n".join(lines)


def write_compare_figures(runs: list[plots.RunPlots], out_dir: Path) -> list[Path]:
    """Overlay figures of the runs that have the data; returns the files written."""
    written = []
    evals = {r.name: r.evals for r in runs if r.evals is not None and "epoch" in r.evals.columns}
    if evals:
        written.append(plots.save_figure(plots.compare_eval_figure(evals), out_dir / "compare_eval.png"))
    trains = {r.name: r.train for r in runs if r.train is not None and {"loss", "epoch"} <= set(r.train.columns)}
    if trains:
        written.append(plots.save_figure(plots.compare_train_loss_figure(trains), out_dir / "compare_train_loss.png"))
    f1s = {r.name: r.f1 for r in runs if r.f1 is not None}
    if f1s:
        written.append(plots.save_figure(plots.compare_f1_figure(f1s), out_dir / "compare_per_class_f1.png"))
    return written


def _unique_names(runs: list[plots.RunPlots]) -> None:
    """Two runs of one family (e.g. two CLIP runs) get their folder name appended so legends stay distinct."""
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:
            run.name = f"{run.name} ({run.run_dir.resolve().name})"


def plot_and_report(run_dirs: list[Path], out_dir: Path | None) -> int:
    """Plot each run into RUN_DIR/plots/; with `out_dir`, also overlays and REPORT.md there.

    Returns:
        0, or 2 when a run folder file was missing, empty or unreadable (each printed as one `error:` line).
    """
    runs = [plots.plot_run(Path(d)) for d in run_dirs]
    _unique_names(runs)
    for run in runs:
        for path in run.written:
            print(f"{run.run_dir}: wrote {path}")
        for note in run.notes:
            print(f"{run.run_dir}: note: {note}")
        for error in run.errors:
            print(f"error: {error}", file=sys.stderr)
    if out_dir is None:
        return USAGE_ERROR_EXIT_CODE if any(r.errors for r in runs) else 0
    try:
        figures = write_compare_figures(runs, out_dir)
        report = write_text(out_dir / "REPORT.md", report_text(runs, figures, out_dir))
    except (rr.RunFolderError, OSError) as e:
        print(f"error: no report written: {e}", file=sys.stderr)
        return USAGE_ERROR_EXIT_CODE
    print(f"wrote {', '.join(map(str, figures + [report]))}")
    return USAGE_ERROR_EXIT_CODE if any(r.errors for r in runs) else 0
