"""Per-run plots, overlay figures and the comparison report (REPORT.md) of runs and campaigns.

Run: `python plot_metrics.py outputs/clip outputs/siglip --out outputs/compare`; open outputs/compare/REPORT.md.
Reads only run folders (docs/run_folder.md); a campaign folder stands for the run folders under it. The
uncertainty sections (intervals, seed groups, paired verdicts, power) come from sections.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from har_finetune.core.errors import USAGE_ERROR_EXIT_CODE
from har_finetune.reporting import comparison_figures as compare_plots
from har_finetune.reporting import fonts
from har_finetune.reporting import groups as comparison
from har_finetune.reporting import run_figures as plots
from har_finetune.reporting import sections as report_stats
from har_finetune.reporting.sections import MISSING, markdown_table
from har_finetune.run_folder import reader as rr
from har_finetune.run_folder.files import is_run_folder, write_text

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


def confused_pairs(predictions: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` most frequent (true, predicted) mistakes, with their share of the true class."""
    support = predictions["label"].value_counts()
    wrong = predictions[predictions["label"] != predictions["prediction"]]
    if wrong.empty:  # a perfect run: nothing to count (and pandas cannot divide an empty groupby)
        return pd.DataFrame(columns=["label", "prediction", "images", "share"])
    pairs = wrong.groupby(["label", "prediction"]).size().rename("images").reset_index()
    pairs["share"] = pairs["images"] / pairs["label"].map(support)
    return pairs.sort_values(["images", "label", "prediction"], ascending=[False, True, True]).head(top)


def split_note(run_dirs: list[Path]) -> str:
    """Say whether all runs were scored on the same test images, ids and labels (the rule groups.py pairs by)."""
    images = {}
    for run_dir in run_dirs:
        predictions = rr.load_predictions(run_dir)
        if predictions is not None:
            images[run_dir] = set(zip(predictions["id"], predictions["label"]))
    sets = list(images.values())
    if len(sets) < 2:
        return ""
    if all(s == sets[0] for s in sets):
        return f"All runs were scored on the same {len(sets[0])} test images."
    sizes = " vs ".join(str(len(s)) for s in sets)
    shared = len(set.intersection(*sets))
    return (
        f"**Warning:** the runs were scored on different test images ({sizes}; {shared} shared, ids and labels), "
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


def dataset_names(run_dirs: list[Path]) -> list[str]:
    """The datasets the runs were trained on (run_config.json): a Hub id as is, a local folder by its name."""
    names = []
    for run_dir in run_dirs:
        dataset = (rr.read_optional_json(Path(run_dir) / "run_config.json") or {}).get("dataset") or {}
        root = dataset.get("root")
        if root:
            name = root if dataset.get("kind") == "hub" else Path(root).name
            names += [name] if name not in names else []
    return names


def title(names: list[str], datasets: list[str]) -> str:
    """`# CLIP vs SigLIP on <dataset>`; many runs are counted rather than listed."""
    what = " vs ".join(names) if len(names) <= 4 else f"{len(names)} configurations"
    return f"# {what}" + (f" on {' and '.join(datasets)}" if datasets else "")


def report_text(
    runs: list[plots.RunPlots],
    compare_figures: list[Path],
    out_dir: Path,
    compared: comparison.Comparison | None = None,
) -> str:
    """The Markdown of REPORT.md; figures are linked relative to `out_dir` so the report renders on a Git host."""
    compared = compared or comparison.compare([(r.name, r.run_dir) for r in runs])
    command = " ".join(["python plot_metrics.py", *(_shown(r.run_dir) for r in runs), "--out", _shown(out_dir)])
    names = [u.name for u in compared.units] if compared.runs else [r.name for r in runs]
    lines = [title(names, dataset_names([r.run_dir for r in runs])), ""]
    lines += [f"Generated by `{command}` from the run folders; test numbers are on each run's held-out test split.", ""]
    rows = [row for r in runs for row in (zero_shot_row(r), summary_row(r)) if row]  # baseline above its run
    lines += ["## Table 1: results", "", markdown_table(rows, TABLE_COLUMNS), ""]
    note = split_note([r.run_dir for r in runs])
    lines += [note, ""] if note else []
    lines += ["Runs: " + ", ".join(f"{r.name} = `{_relative(r.run_dir, out_dir)}`" for r in runs), ""]
    lines += report_stats.sections(compared)
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


def write_compare_figures(
    runs: list[plots.RunPlots], out_dir: Path, compared: comparison.Comparison | None = None
) -> list[Path]:
    """Overlay figures of the runs that have the data, accuracy with intervals and reliability; the files written."""
    written = []
    evals = {r.name: r.evals for r in runs if r.evals is not None and "epoch" in r.evals.columns}
    if evals:
        figure = compare_plots.compare_eval_figure(evals)
        written.append(plots.save_figure(figure, out_dir / "compare_eval.png"))
    trains = {r.name: r.train for r in runs if r.train is not None and {"loss", "epoch"} <= set(r.train.columns)}
    if trains:
        figure = compare_plots.compare_train_loss_figure(trains)
        written.append(plots.save_figure(figure, out_dir / "compare_train_loss.png"))
    f1s = {r.name: r.f1 for r in runs if r.f1 is not None}
    if f1s:
        with fonts.covering(name for f1 in f1s.values() for name in f1.index):
            figure = compare_plots.compare_f1_figure(f1s)
            written.append(plots.save_figure(figure, out_dir / "compare_per_class_f1.png"))
    if compared is not None:
        written += report_stats.write_figures(compared, out_dir)
    return written


def _unique_names(runs: list[plots.RunPlots]) -> None:
    """Runs of one family (two CLIP runs, seeds of a campaign) get the end of their folder path appended, as much of
    it as tells them apart (`CLIP (seed-1)`, or `CLIP (lr-1e-5/seed-1)` in a sweep of seed campaigns)."""
    bases = [r.name for r in runs]
    for base in set(bases):
        same = [r for r, b in zip(runs, bases) if b == base]
        if len(same) < 2:
            continue
        parts = [r.run_dir.resolve().parts for r in same]
        for depth in range(1, max(map(len, parts)) + 1):
            suffixes = ["/".join(p[-depth:]) for p in parts]
            if len(set(suffixes)) == len(suffixes):
                break
        for run, suffix in zip(same, suffixes):
            run.name = f"{base} ({suffix})"


def expand_run_dirs(paths: list[Path]) -> list[Path]:
    """Campaign folders replaced by the run folders under them; the same folder given twice kept once."""
    expanded, seen = [], set()
    for path in paths:
        for run_dir in plots.run_folders(path) or [Path(path)]:  # nothing found: plot_run says what is wrong
            key = Path(run_dir).resolve()
            if key not in seen:
                seen.add(key)
                expanded.append(Path(run_dir))
    return expanded


def plot_and_report(run_dirs: list[Path], out_dir: Path | None) -> int:
    """Plot each run (campaign folders: each run under them) into RUN_DIR/plots/; with `out_dir`, also overlays,
    the uncertainty figures and REPORT.md there.

    Returns:
        0, or 2 when a run folder file was missing, empty or unreadable (each printed as one `error:` line).
    """
    runs = [plots.plot_run(d) for d in expand_run_dirs(run_dirs)]
    _unique_names(runs)
    for run in runs:
        for path in run.written:
            print(f"{run.run_dir}: wrote {path}")
        for note in run.notes:
            print(f"{run.run_dir}: note: {note}")
        for error in run.errors:
            print(f"error: {error}", file=sys.stderr)
    failed = USAGE_ERROR_EXIT_CODE if any(r.errors for r in runs) else 0
    readable = [r for r in runs if is_run_folder(r.run_dir)]
    if out_dir is None or not readable:
        return failed
    try:
        compared = comparison.compare([(r.name, r.run_dir) for r in readable])
        for warning in compared.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        figures = write_compare_figures(readable, out_dir, compared)
        report = write_text(out_dir / "REPORT.md", report_text(readable, figures, out_dir, compared))
    except (rr.RunFolderError, OSError) as e:
        print(f"error: no report written: {e}", file=sys.stderr)
        return USAGE_ERROR_EXIT_CODE
    print(f"wrote {', '.join(map(str, figures + [report]))}")
    return failed
