"""Training curves, confusion matrix and per-class F1 of one run, plus overlays of several runs.

Run: `python plot_metrics.py outputs/clip outputs/siglip --out outputs/compare` (see docs/plots_and_report.md).
Figures are built with matplotlib's object API (`Figure`, no pyplot), so no display or backend is needed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from har_finetune.reporting import fonts
from har_finetune.reporting.loading import not_a_run
from har_finetune.run_folder import reader as rr
from har_finetune.run_folder.files import (
    CONFUSION_FIGURE,
    EVAL_FIGURE,
    F1_FIGURE,
    TRAIN_FIGURE,
    is_run_folder,
    write_bytes,
)
from har_finetune.run_folder.reader import RunRecord
from har_finetune.run_folder.writer import write_run_figure

DPI = 120
EVAL_LABELS = {"eval_loss": "loss", "eval_accuracy": "accuracy", "eval_macro_f1": "macro-F1"}


@dataclass
class RunPlots:
    """One run of a report: its record (read once, passed along), its display name, and what `plot_run` produced:
    files written, one-line notes on what was skipped, errors, and the logs and per-class F1 it read."""

    record: RunRecord
    name: str  # as REPORT.md names the run (`SigLIP (seed-2)`): the titles of its figures say it
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    train: pd.DataFrame | None = None
    evals: pd.DataFrame | None = None
    f1: pd.Series | None = None

    @property
    def run_dir(self) -> Path:
        return self.record.run_dir

    @property
    def model(self) -> str:
        """The model's display name (`SigLIP`)."""
        return self.record.model_name


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def save_figure(fig: Figure, path: Path) -> Path:
    """Render `fig` to PNG and write it atomically (a report folder's figures; a run's go through the writer)."""
    return write_bytes(path, png(fig))


def _not_logged(ax, what: str) -> None:
    ax.set_yticks([])
    ax.text(0.5, 0.5, f"{what} not logged", ha="center", va="center", transform=ax.transAxes, color="gray")


def steps_per_epoch(*logs: pd.DataFrame) -> float | None:
    """Optimizer steps per epoch from the `epoch` that Trainer logged with each step (training or evaluation rows).

    Not max_steps / num_train_epochs: with --max_steps, Trainer rounds num_train_epochs up (20 steps of 8 per
    epoch: 3 epochs), which would put the epoch marks at 6.7 and 13.3 instead of 8 and 16."""
    frames = [log[["step", "epoch"]] for log in logs if log is not None and {"step", "epoch"} <= set(log.columns)]
    if not frames:
        return None
    rows = pd.concat(frames, ignore_index=True).dropna()
    rows = rows[(rows["epoch"] > 0) & (rows["step"] > 0)]
    if rows.empty:
        return None
    last = rows.loc[rows["step"].idxmax()]
    per_epoch = float(last["step"] / last["epoch"])
    return float(round(per_epoch)) if abs(per_epoch - round(per_epoch)) < 0.01 * per_epoch else per_epoch


def train_figure(train: pd.DataFrame, per_epoch: float | None, title: str) -> tuple[Figure, list[str]]:
    """Three panels against step: training loss, learning rate, gradient norm; dotted lines at epoch ends."""
    fig = Figure(figsize=(9, 8), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    notes = []
    panels = (("loss", "training loss"), ("learning_rate", "learning rate"), ("grad_norm", "gradient norm"))
    for ax, (column, label) in zip(axes, panels):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        rows = train.dropna(subset=[column]) if column in train.columns else train.iloc[:0]
        if rows.empty:
            _not_logged(ax, label)
            notes.append(f"{label} not logged: its panel is empty")
            continue
        ax.plot(rows["step"], rows[column], lw=1.2, marker="." if len(rows) < 30 else None)
    axes[-1].set_xlabel("step")
    if per_epoch:
        last_step = float(train["step"].max())
        for k in range(1, int(last_step / per_epoch + 1e-9) + 1):
            for ax in axes:
                ax.axvline(k * per_epoch, color="gray", ls=":", lw=1)
        top = axes[0].secondary_xaxis("top", functions=(lambda s: s / per_epoch, lambda e: e * per_epoch))
        top.set_xlabel("epoch")
    fig.suptitle(f"{title}: training")
    return fig, notes


def evaluated_when(evals: pd.DataFrame) -> str:
    """'after each epoch', or for step-based evaluation (--eval_strategy steps) the steps as they were: 'every 8
    steps', 'every 8 steps and at step 20' (the last, when training ended between two), else 'at steps 3, 7, 12'."""
    epochs = evals["epoch"].dropna().to_numpy(dtype=float)
    if len(epochs) and np.allclose(epochs, np.round(epochs)):
        return "after each epoch"
    steps = sorted(set(evals["step"].dropna().astype(int))) if "step" in evals.columns else []
    if len(steps) < 2:
        return f"at step {steps[0]}" if steps else "during training"
    every = steps[0]
    if steps == [every * k for k in range(1, len(steps) + 1)]:
        return f"every {every} steps"
    if len(steps) > 2 and steps[:-1] == [every * k for k in range(1, len(steps))]:
        return f"every {every} steps and at step {steps[-1]}"
    shown = ", ".join(map(str, steps[:8])) + (", ..." if len(steps) > 8 else "")
    return f"at steps {shown}"


def eval_figure(evals: pd.DataFrame, title: str) -> tuple[Figure, list[str]]:
    """Two panels against epoch: validation loss, validation accuracy (and macro-F1 when logged)."""
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True)
    notes = []
    for ax, columns, label in (
        (ax_loss, ["eval_loss"], "validation loss"),
        (ax_acc, ["eval_accuracy", "eval_macro_f1"], "validation accuracy"),
    ):
        ax.grid(alpha=0.3)
        present = [c for c in columns if c in evals.columns and evals[c].notna().any()]
        ax.set_ylabel("validation " + ", ".join(EVAL_LABELS[c] for c in present) if len(present) > 1 else label)
        if columns[0] not in present:
            _not_logged(ax, label)
            notes.append(f"{label} not logged: its panel is empty")
        for column in present:
            rows = evals.dropna(subset=[column])
            ax.plot(rows["epoch"], rows[column], marker="o", label=EVAL_LABELS.get(column, column))
        if len(present) > 1:
            ax.legend()
    if "eval_accuracy" in evals.columns and evals["eval_accuracy"].notna().any():
        best = evals.loc[evals["eval_accuracy"].idxmax()]
        ax_acc.axvline(best["epoch"], color="gray", ls=":", lw=1)
        ax_acc.annotate(
            f"best {best['eval_accuracy']:.3f}",
            (best["epoch"], best["eval_accuracy"]),
            textcoords="offset points",
            xytext=(-4, -14),
            ha="right",
            fontsize=9,
        )
    ax_acc.set_xlabel("epoch")
    fig.suptitle(f"{title}: validation {evaluated_when(evals)}")
    return fig, notes


def confusion_matrix(predictions: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Counts and row-normalised rates (true class by row, predicted by column) over `names` (+ unknown labels)."""
    extra = sorted((set(predictions["label"]) | set(predictions["prediction"])) - set(names))
    names = list(names) + extra
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(counts, (predictions["label"].map(index).to_numpy(), predictions["prediction"].map(index).to_numpy()), 1)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    return counts, rates, names


def confusion_figure(predictions: pd.DataFrame, names: list[str], title: str) -> Figure:
    """Row-normalised confusion matrix with class names on both axes and the rate (in %) in each cell."""
    _, rates, names = confusion_matrix(predictions, names)
    size = max(6.0, 0.55 * len(names) + 2.5)  # ~0.55 inch per class keeps 15 names and 2-digit cells legible
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="share of the true class")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for (i, j), rate in np.ndenumerate(rates):
        if rate >= 0.005:
            ax.text(
                j,
                i,
                f"{100 * rate:.0f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rate > 0.5 else "black",
            )
    accuracy = (predictions["label"] == predictions["prediction"]).mean()
    ax.set_title(f"{title}: test confusion matrix, % of each true class (n={len(predictions)}, acc {accuracy:.1%})")
    return fig


def per_class_f1(record: RunRecord, predictions: pd.DataFrame | None, names: list[str]) -> pd.Series | None:
    """Per-class test F1 of the classes with test images (their mean is the run's macro-F1, core.metrics.macro_f1),
    from classification_report.csv, else computed from `predictions` (test_predictions.csv)."""
    report = record.class_report
    if report is not None:
        column = "f1" if "f1" in report.columns else "f1-score"
        rows = report[~report["class"].astype(str).isin(rr.SUMMARY_ROWS)]
        if "support" in rows.columns:
            rows = rows[pd.to_numeric(rows["support"], errors="coerce").fillna(1) > 0]
        return pd.Series(rows[column].astype(float).to_numpy(), index=rows["class"].astype(str), name="f1")
    if predictions is None:
        return None
    from sklearn.metrics import f1_score

    names = [name for name in names if name in set(predictions["label"])]
    scores = f1_score(predictions["label"], predictions["prediction"], labels=names, average=None, zero_division=0)
    return pd.Series(scores, index=names, name="f1")


def f1_figure(f1: pd.Series, title: str) -> Figure:
    """Horizontal bars of per-class F1, best at the top, with the macro average as a dashed line."""
    f1 = f1.sort_values()
    fig = Figure(figsize=(8, max(4.0, 0.35 * len(f1) + 1.5)), layout="constrained")
    ax = fig.subplots()
    bars = ax.barh(f1.index, f1.to_numpy(), color="tab:blue")
    ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.axvline(f1.mean(), color="tab:red", ls="--", label=f"macro F1 {f1.mean():.3f}")
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("F1 on the test split")
    ax.set_ylabel("class")
    fig.legend(loc="outside lower center")
    ax.set_title(f"{title}: per-class F1 (test)")
    return fig


def plot_run(record: RunRecord, name: str | None = None) -> RunPlots:
    """Write every figure the run's files allow into RUN_DIR/plots/, titled `name` (default: the model's name); note
    what is missing, record errors."""
    run_dir = record.run_dir
    result = RunPlots(record, name or record.model_name)
    if not is_run_folder(run_dir):  # one error, not notes about the files a run would have
        result.errors.append(not_a_run(run_dir))
        return result
    try:
        result.train, result.evals, state = record.log_history()
    except rr.NothingLoggedYet as e:  # a run in progress: plot what exists, note the rest
        result.notes.append(f"{TRAIN_FIGURE} and {EVAL_FIGURE} skipped: {e}")
    except (rr.RunFolderError, OSError) as e:
        result.errors.append(str(e))
    else:
        _plot_history(result, state)
    try:
        _plot_test(result, record)
    except (rr.RunFolderError, OSError) as e:
        result.errors.append(str(e))
    return result


def _plot_history(result: RunPlots, state: dict) -> None:
    if result.train.empty:
        result.notes.append(f"{TRAIN_FIGURE} skipped: no training step logged yet")
    else:
        fig, notes = train_figure(result.train, steps_per_epoch(result.train, result.evals), result.name)
        result.written.append(write_run_figure(result.run_dir, TRAIN_FIGURE, png(fig)))
        result.notes += notes
    if result.evals.empty or "epoch" not in result.evals.columns:
        result.notes.append(f"{EVAL_FIGURE} skipped: no evaluation logged yet (first epoch not finished?)")
    else:
        fig, notes = eval_figure(result.evals, result.name)
        result.written.append(write_run_figure(result.run_dir, EVAL_FIGURE, png(fig)))
        result.notes += notes


def _plot_test(result: RunPlots, record: RunRecord) -> None:
    predictions = record.predictions
    names = [] if predictions is None else record.class_names()
    with fonts.covering(names):  # class names in any script: a font that has their glyphs
        if predictions is None:
            result.notes.append(f"{CONFUSION_FIGURE} skipped: no test_predictions.csv (run not finished?)")
        else:
            figure = confusion_figure(predictions, names, result.name)
            result.written.append(write_run_figure(result.run_dir, CONFUSION_FIGURE, png(figure)))
        result.f1 = per_class_f1(record, predictions, names)
        if result.f1 is None:
            result.notes.append(f"{F1_FIGURE} skipped: no classification_report.csv or test_predictions.csv")
        else:
            with fonts.covering(result.f1.index):
                figure = f1_figure(result.f1, result.name)
                result.written.append(write_run_figure(result.run_dir, F1_FIGURE, png(figure)))
