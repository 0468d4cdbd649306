"""Figures that put several runs side by side: overlays of their curves, accuracy with intervals, reliability.

Written by `python plot_metrics.py RUN_DIR ... --out DIR` into DIR and linked from REPORT.md. Like plots.py, built
with matplotlib's object API (`Figure`), so no display or backend is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from har_finetune.reporting import fonts, stats
from har_finetune.reporting.configuration_test import configuration_t
from har_finetune.reporting.groups import Comparison
from har_finetune.reporting.run_figures import RunPlots, evaluated_when, save_figure
from har_finetune.reporting.scored import Unit, pooled_calibration
from har_finetune.reporting.stats import Calibration
from har_finetune.reporting.verdicts import MIN_SEEDS

SEED_LINES = ("-", "--", ":", "-.")  # seeds of one family: one colour, told apart by dash and marker
SEED_MARKERS = ("o", "s", "^", "D", "v", "P")


@dataclass(frozen=True)
class Hues:
    """One colour per family of runs (a configuration's seeds: its unit in REPORT.md; a run without test predictions
    yet: its model), in the order of the units, so that C0, C1, ... match reliability.png's curves."""

    family: dict[str, str]  # run name -> family name
    colour: dict[str, str]  # family name -> matplotlib colour

    @classmethod
    def of(cls, runs: list[RunPlots], compared: Comparison | None = None) -> Hues:
        units = compared.units if compared is not None else []
        unit_of = {run.name: unit.name for unit in units for run in unit.runs}
        family = {r.name: unit_of.get(r.name, r.model) for r in runs}
        order = dict.fromkeys([u.name for u in units if u.name in family.values()] + list(family.values()))
        return cls(family, {name: f"C{k % 10}" for k, name in enumerate(order)})

    @classmethod
    def each_its_own(cls, names) -> Hues:
        return cls({n: n for n in names}, {n: f"C{k % 10}" for k, n in enumerate(names)})

    def members(self, names) -> dict[str, list[str]]:
        """Family name -> its runs among `names`, families in colour order."""
        groups = {f: [n for n in names if self.family[n] == f] for f in self.colour}
        return {f: runs for f, runs in groups.items() if runs}

    def line(self, name: str, names: list[str]) -> dict:
        """Plot keywords of run `name` among `names`: its family's colour, a dash and marker per seed."""
        k = self.members(names)[self.family[name]].index(name)
        return {"color": self.colour[self.family[name]], "ls": SEED_LINES[k % 4], "marker": SEED_MARKERS[k % 6]}


def compare_eval_figure(runs: dict[str, pd.DataFrame], hues: Hues | None = None) -> Figure:
    """Validation accuracy and loss of several runs on shared axes, against epoch; one colour per family."""
    hues = hues or Hues.each_its_own(list(runs))
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax_acc, ax_loss = fig.subplots(2, 1, sharex=True)
    for name, evals in runs.items():
        for ax, column in ((ax_acc, "eval_accuracy"), (ax_loss, "eval_loss")):
            if column in evals.columns:
                rows = evals.dropna(subset=[column])
                ax.plot(rows["epoch"], rows[column], label=name, **hues.line(name, list(runs)))
    for ax, label in ((ax_acc, "validation accuracy"), (ax_loss, "validation loss")):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_xlabel("epoch")
    when = {evaluated_when(evals) for evals in runs.values()}
    fig.suptitle("Validation " + (when.pop() if len(when) == 1 else "during training"))
    return fig


def compare_train_loss_figure(runs: dict[str, pd.DataFrame], hues: Hues | None = None) -> Figure:
    """Training loss of several runs against epoch (step counts differ between runs, epochs do not)."""
    hues = hues or Hues.each_its_own(list(runs))
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, train in runs.items():
        rows = train.dropna(subset=["loss", "epoch"])
        ax.plot(rows["epoch"], rows["loss"], lw=1.2, label=name, **{**hues.line(name, list(runs)), "marker": None})
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Training loss")
    return fig


def compare_f1_figure(f1s: dict[str, pd.Series], hues: Hues | None = None) -> Figure:
    """Per-class test F1, one row per class (best at the top) and one dot per family: the mean of its seeds, each
    seed a tick on a line spanning them.

    Dots, not bars: an F1 of 0 shows as a dot on the 0 line, and 6 runs of 15 classes fit a screen (grouped bars
    were 2,566 px tall)."""
    hues = hues or Hues.each_its_own(list(f1s))
    families = hues.members(list(f1s))
    table = pd.DataFrame(f1s)
    order = table.mean(axis=1).sort_values().index
    fig = Figure(figsize=(8, (0.28 + 0.04 * len(families)) * len(order) + 1.6), layout="constrained")
    ax = fig.subplots()
    step = 0.7 / len(families)
    for k, (family, names) in enumerate(families.items()):
        y = np.arange(len(order)) + ((len(families) - 1) / 2 - k) * step  # first family on top within a class
        seeds, colour = table.loc[order, names], hues.colour[family]
        macro = np.mean([f1s[n].mean() for n in names])
        if len(names) > 1:
            ax.hlines(y, seeds.min(axis=1), seeds.max(axis=1), color=colour, lw=1.2, alpha=0.5)
            for name in names:
                ax.plot(seeds[name], y, "|", color=colour, ms=7, clip_on=False)
        label = f"{family}: " + (f"mean of {len(names)} seeds, " if len(names) > 1 else "") + f"macro {macro:.3f}"
        ax.plot(seeds.mean(axis=1), y, "o", color=colour, ms=6, clip_on=False, zorder=3, label=label)
    ax.set_yticks(np.arange(len(order)), order)
    ax.set_ylim(-0.5, len(order) - 0.5)
    ax.set_xlim(-0.04, 1.04)  # a dot at 0 or 1 stays inside the frame
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("F1 on the test split")
    ax.grid(alpha=0.3)
    if any(len(names) > 1 for names in families.values()):
        ax.plot([], [], "|", color="gray", ms=7, label="one seed")
    fig.legend(loc="outside lower center", ncols=min(len(families) + 1, 2), fontsize=8)
    ax.set_title("Per-class F1 (test)")
    return fig


@dataclass(frozen=True)
class AccuracyRow:
    """One row of the accuracy figure: a run or a group of seeds, its interval (NaN: none) and what kind it is."""

    name: str
    accuracy: float
    low: float
    high: float
    kind: str  # the legend's words for this kind of interval; one colour per kind
    seeds: tuple[float, ...] = ()


KIND_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def accuracy_figure(rows: list[AccuracyRow]) -> Figure:
    """Test accuracy per run or group, the best at the top: one kind of interval per row (the legend says which),
    a group's seeds as black points on its row."""
    rows = sorted(rows, key=lambda r: r.accuracy)
    kinds = list(dict.fromkeys(r.kind for r in rows))
    colours = dict(zip(kinds, KIND_COLOURS))
    fig = Figure(figsize=(8, max(2.5, 0.45 * len(rows) + 1.4 + 0.25 * len(kinds))), layout="constrained")
    ax = fig.subplots()
    for y, row in enumerate(rows):
        colour = colours[row.kind]
        if np.isfinite(row.low):
            ax.plot([100 * row.low, 100 * row.high], [y, y], color=colour, lw=2.5, solid_capstyle="butt")
        ax.plot(100 * row.accuracy, y, "o", color=colour, ms=8)
        if row.seeds:
            ax.plot([100 * s for s in row.seeds], [y] * len(row.seeds), ".", color="black", ms=6, zorder=3)
        right = np.nanmax([row.high, row.accuracy, *row.seeds])
        ax.annotate(f"{100 * row.accuracy:.2f}", (100 * right, y), xytext=(5, 0), textcoords="offset points",
                    va="center", fontsize=8)  # fmt: skip
    ax.set_yticks(range(len(rows)), [r.name for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.margins(x=0.08)
    ax.set_xlabel("test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    handles = [ax.plot([], [], "o-", color=colours[kind], label=kind)[0] for kind in kinds]
    if any(r.seeds for r in rows):
        handles.append(ax.plot([], [], ".", color="black", ms=6, label="one seed")[0])
    fig.legend(handles=handles, loc="outside lower center", ncols=1, fontsize=8)
    ax.set_title("Test accuracy")
    return fig


def reliability_figure(curves: dict[str, Calibration]) -> Figure:
    """Reliability diagram (accuracy against mean confidence per bin; the diagonal is calibrated) over the share of
    test images in each bin. Empty bins leave gaps; the legend, below the axes, gives each curve's ECE."""
    fig = Figure(figsize=(6.5, 8.5), layout="constrained")
    ax, ax_counts = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="perfectly calibrated")
    bins = len(next(iter(curves.values())).counts)
    edges = np.linspace(0, 1, bins + 1)
    for name, curve in curves.items():
        (line,) = ax.plot(curve.confidence, curve.accuracy, marker="o", ms=4, clip_on=False,
                          label=f"{name} (ECE {curve.ece:.4f})")  # fmt: skip
        share = curve.counts / max(curve.counts.sum(), 1)
        ax_counts.stairs(share, edges, color=line.get_color(), lw=1.5)
    for axis in (ax, ax_counts):
        axis.set_xlim(0, 1)
        axis.grid(alpha=0.3)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in the bin")
    ax_counts.set_ylabel("share of images")
    ax_counts.set_ylim(0, None)
    ax_counts.set_xlabel(f"confidence (mean of the bin; bins of width 1/{bins})")
    ax.tick_params(labelbottom=True)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncols=1)
    ax.set_title(f"Reliability on the test split ({bins} bins)")
    return fig


def write_comparison_figures(runs: list[RunPlots], out_dir: Path, compared: Comparison | None = None) -> list[Path]:
    """Overlay figures of the runs that have the data, accuracy with intervals and reliability; the files written."""
    written = []
    hues = Hues.of(runs, compared)
    evals = {r.name: r.evals for r in runs if r.evals is not None and "epoch" in r.evals.columns}
    if evals:
        figure = compare_eval_figure(evals, hues)
        written.append(save_figure(figure, out_dir / "compare_eval.png"))
    trains = {r.name: r.train for r in runs if r.train is not None and {"loss", "epoch"} <= set(r.train.columns)}
    if trains:
        figure = compare_train_loss_figure(trains, hues)
        written.append(save_figure(figure, out_dir / "compare_train_loss.png"))
    f1s = {r.name: r.f1 for r in runs if r.f1 is not None and not r.f1.empty}
    if f1s:
        with fonts.covering(name for f1 in f1s.values() for name in f1.index):
            figure = compare_f1_figure(f1s, hues)
            written.append(save_figure(figure, out_dir / "compare_per_class_f1.png"))
    if compared is not None:
        written += write_uncertainty_figures(compared, out_dir)
    return written


RUN_INTERVAL = "run: accuracy, 95% Wilson interval (test images)"
GROUP_INTERVAL = "seeds: mean, 95% t interval (seeds and test images)"
GROUP_NO_INTERVAL = f"seeds: mean, no interval (fewer than {MIN_SEEDS} seeds)"


def accuracy_rows(comparison: Comparison) -> list[AccuracyRow]:
    """accuracy.png's rows: a run with its Wilson interval; a group's mean with the interval of the configuration's
    accuracy (t over seeds and test images; none under MIN_SEEDS seeds) and each seed as a point."""
    rows = []
    for unit in comparison.units:
        if not unit.is_group:
            run = unit.runs[0]
            interval = stats.wilson_interval(int(run.correct.sum()), len(run.correct))
            rows.append(AccuracyRow(unit.name, run.accuracy, *interval, RUN_INTERVAL))
            continue
        seeds = tuple(run.accuracy for run in unit.runs)
        low, high, kind = _group_interval(unit)
        rows.append(AccuracyRow(unit.name, unit.accuracy, low, high, kind, seeds))
    return rows


def _group_interval(unit: Unit) -> tuple[float, float, str]:
    if len(unit.runs) < MIN_SEEDS or unit.test_images is None:
        return float("nan"), float("nan"), GROUP_NO_INTERVAL
    return *configuration_t(unit.matrix()).interval(stats.CONFIDENCE), GROUP_INTERVAL


def write_uncertainty_figures(comparison: Comparison, out_dir: Path) -> list[Path]:
    """accuracy.png (every run or group with its interval) and reliability.png (one curve per run or group: the
    ECE in its legend is Table 2's for a run, Table 3's for a group)."""
    if not comparison.runs:
        return []
    names = [unit.name for unit in comparison.units]
    with fonts.covering(names):
        accuracy = accuracy_figure(accuracy_rows(comparison))
        written = [save_figure(accuracy, Path(out_dir) / "accuracy.png")]
        curves = {unit.name: c for unit in comparison.units if (c := pooled_calibration(unit.runs)) is not None}
        if curves:
            written.append(save_figure(reliability_figure(curves), Path(out_dir) / "reliability.png"))
    return written
