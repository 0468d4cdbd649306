"""Figures that put several runs side by side: overlays of their curves, accuracy with intervals, reliability.

Written by `python plot_metrics.py RUN_DIR ... --out DIR` into DIR and linked from REPORT.md. Like plots.py, built
with matplotlib's object API (`Figure`), so no display or backend is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from har_finetune.reporting.run_figures import evaluated_when
from har_finetune.reporting.stats import Calibration


def compare_eval_figure(runs: dict[str, pd.DataFrame]) -> Figure:
    """Validation accuracy and loss of several runs on shared axes, against epoch."""
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax_acc, ax_loss = fig.subplots(2, 1, sharex=True)
    for name, evals in runs.items():
        for ax, column in ((ax_acc, "eval_accuracy"), (ax_loss, "eval_loss")):
            if column in evals.columns:
                rows = evals.dropna(subset=[column])
                ax.plot(rows["epoch"], rows[column], marker="o", label=name)
    for ax, label in ((ax_acc, "validation accuracy"), (ax_loss, "validation loss")):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_xlabel("epoch")
    when = {evaluated_when(evals) for evals in runs.values()}
    fig.suptitle("Validation " + (when.pop() if len(when) == 1 else "during training"))
    return fig


def compare_train_loss_figure(runs: dict[str, pd.DataFrame]) -> Figure:
    """Training loss of several runs against epoch (step counts differ between runs, epochs do not)."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, train in runs.items():
        rows = train.dropna(subset=["loss", "epoch"])
        ax.plot(rows["epoch"], rows["loss"], lw=1.2, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Training loss")
    return fig


def compare_f1_figure(f1s: dict[str, pd.Series]) -> Figure:
    """Per-class test F1 of several runs as grouped horizontal bars, classes ordered by the first run's F1.

    Within each class the runs go top to bottom in legend order, and the axis ends past 1 so that a perfect
    class's bar stays inside the frame."""
    order = next(iter(f1s.values())).sort_values().index
    fig = Figure(figsize=(8, max(4.0, 0.22 * len(order) * len(f1s) + 1.5)), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(f1s)
    for k, (name, f1) in enumerate(f1s.items()):
        positions = np.arange(len(order)) + ((len(f1s) - 1) / 2 - k) * height  # first run on top
        ax.barh(positions, f1.reindex(order).to_numpy(), height=height, label=f"{name} (macro {f1.mean():.3f})")
    ax.set_yticks(np.arange(len(order)), order)
    ax.set_xlim(0, 1.05)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("F1 on the test split")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(len(f1s), 3))
    ax.set_title("Per-class F1 (test)")
    return fig


@dataclass(frozen=True)
class AccuracyRow:
    """One row of the accuracy figure: a run (Wilson interval) or a group of seeds (min-max, each seed a dot)."""

    name: str
    accuracy: float
    low: float
    high: float
    seeds: tuple[float, ...] = ()


def accuracy_figure(rows: list[AccuracyRow]) -> Figure:
    """Test accuracy per run or group with its interval, the best at the top."""
    rows = sorted(rows, key=lambda r: r.accuracy)
    fig = Figure(figsize=(8, max(2.5, 0.45 * len(rows) + 1.4)), layout="constrained")
    ax = fig.subplots()
    for y, row in enumerate(rows):
        group = bool(row.seeds)
        colour = "tab:orange" if group else "tab:blue"
        ax.plot([100 * row.low, 100 * row.high], [y, y], color=colour, lw=2.5, solid_capstyle="butt")
        ax.plot(100 * row.accuracy, y, "o", color=colour, ms=7)
        if group:
            ax.plot([100 * s for s in row.seeds], [y] * len(row.seeds), "|", color="black", ms=12)
        ax.annotate(f"{100 * row.accuracy:.2f}", (100 * row.high, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)  # fmt: skip
    ax.set_yticks(range(len(rows)), [r.name for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    handles = [
        ax.plot([], [], "o-", color="tab:blue", label="run: accuracy, 95% Wilson interval")[0],
        ax.plot([], [], "o-", color="tab:orange", label="seeds: mean, min-max (| = one seed)")[0],
    ]
    used = [h for h, kind in zip(handles, (False, True)) if any(bool(r.seeds) == kind for r in rows)]
    fig.legend(handles=used, loc="outside lower center", ncols=len(used))
    ax.set_title("Test accuracy")
    return fig


def reliability_figure(curves: dict[str, Calibration]) -> Figure:
    """Reliability diagram: accuracy against mean confidence per confidence bin; the diagonal is calibrated."""
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="perfectly calibrated")
    for name, curve in curves.items():
        filled = curve.counts > 0
        ax.plot(
            curve.confidence[filled], curve.accuracy[filled], marker="o", ms=4, label=f"{name} (ECE {curve.ece:.3f})"
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence (mean of the bin)")
    ax.set_ylabel("accuracy in the bin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Reliability on the test split ({len(next(iter(curves.values())).counts)} bins)")
    return fig
