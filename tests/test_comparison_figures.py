"""Figures a reader takes in at a glance: one colour per model (its seeds share it), per-class F1 that fits a screen
and shows an F1 of 0, per-run titles that name the run.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_comparison_figures.py -q
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from PIL import Image
from run_folders import CLASSES, make_run

import plot_metrics
from har_finetune.reporting import comparison_figures as compare_plots
from har_finetune.reporting import groups
from har_finetune.reporting import run_figures as plots
from har_finetune.reporting.scored import pooled_calibration


def seed_campaign(root: Path, seeds: int = 3) -> list[Path]:
    """CLIP and SigLIP, `seeds` seeds each, on the same test images (run_config.json identities without the seed)."""
    runs = []
    for family in ("clip", "siglip"):
        for seed in range(1, seeds + 1):
            run = make_run(root / family / f"seed-{seed}", family, dataset_root=root / "data")
            config = json.loads((run / "run_config.json").read_text())
            config["identity"] = {"model_name_or_path": family, "split_seed": 42, "seed": seed}
            (run / "run_config.json").write_text(json.dumps(config))
            runs.append(run)
    return runs


def named_runs(run_dirs: list[Path]) -> tuple[list[plots.RunPlots], groups.Comparison]:
    """The runs as REPORT.md names them (`CLIP (seed-1)`), with their curves and F1, and their comparison."""
    records = [plots.RunRecord(d) for d in run_dirs]
    runs = [plots.RunPlots(record, f"{record.model_name} ({record.run_dir.name})") for record in records]
    for run in runs:
        run.train, run.evals, _ = run.record.log_history()
        run.f1 = plots.per_class_f1(run.record, None, CLASSES)
    return runs, groups.compare([(r.name, r.record) for r in runs])


def line_colours(ax) -> dict[str, tuple]:
    return {line.get_label(): to_rgb(line.get_color()) for line in ax.get_lines()}


def test_seeds_of_one_model_share_a_colour_and_differ_in_dash(tmp_path):
    runs, compared = named_runs(seed_campaign(tmp_path))
    hues = compare_plots.Hues.of(runs, compared)
    figure = compare_plots.compare_eval_figure({r.name: r.evals for r in runs}, hues)
    for ax in figure.axes:
        colours = line_colours(ax)
        clip = {colours[f"CLIP (seed-{s})"] for s in (1, 2, 3)}
        siglip = {colours[f"SigLIP (seed-{s})"] for s in (1, 2, 3)}
        assert len(clip) == len(siglip) == 1 and clip != siglip
        styles = {(line.get_linestyle(), line.get_marker()) for line in ax.get_lines() if "CLIP" in line.get_label()}
        assert len(styles) == 3, "the seeds of one model look alike"
    # the same colour for CLIP in reliability.png, whose curves are the seed groups
    curves = {u.name: pooled_calibration(u.runs) for u in compared.units}
    reliability = line_colours(compare_plots.reliability_figure(curves).axes[0])
    (clip_curve,) = [c for label, c in reliability.items() if label.startswith("CLIP (n=3)")]
    assert clip_curve == line_colours(figure.axes[0])["CLIP (seed-1)"]


def test_without_groups_each_run_has_its_own_colour():
    evals = pd.DataFrame({"epoch": [1, 2], "eval_accuracy": [0.7, 0.8], "eval_loss": [1.0, 0.9]})
    colours = line_colours(compare_plots.compare_eval_figure({"a": evals, "b": evals}).axes[0])
    assert colours["a"] != colours["b"]


def test_per_class_f1_of_six_runs_fits_a_screen(tmp_path):
    runs, compared = named_runs(seed_campaign(tmp_path / "c"))
    path = compare_plots.write_comparison_figures(runs, tmp_path / "out", compared)[2]
    assert path.name == "compare_per_class_f1.png"
    width, height = Image.open(path).size
    assert height <= 1000 and width <= 1100, (width, height)  # grouped bars were 986 x 2,566
    six = {f"run {k}": pd.Series(np.linspace(0, 1, len(CLASSES)), index=CLASSES) for k in range(6)}
    figure = compare_plots.compare_f1_figure(six)
    assert figure.get_size_inches()[1] * plots.DPI <= 1200  # six runs in no group: six dots per class


def rendered(figure) -> np.ndarray:
    """The figure's pixels as drawn (layout done, so data -> pixel transforms hold afterwards)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def test_an_f1_of_zero_is_drawn_visibly():
    """A bar of length 0 is invisible: the figure must put a mark of the run's colour at F1 = 0."""
    f1s = {"CLIP": pd.Series(0.9, index=CLASSES), "SigLIP": pd.Series(0.9, index=CLASSES)}
    f1s["SigLIP"]["eating"] = 0.0
    figure = compare_plots.compare_f1_figure(f1s)
    ax = figure.axes[0]
    assert ax.get_xlim()[0] < 0 < 1 < ax.get_xlim()[1]  # dots at 0 and 1 stay inside the frame
    row = [t.get_text() for t in ax.get_yticklabels()].index("eating")
    pixels = rendered(figure)
    x, y = ax.transData.transform((0.0, row))
    height = pixels.shape[0]
    around = pixels[int(height - y) - 12 : int(height - y) + 12, int(x) - 6 : int(x) + 6]
    siglip = np.array(to_rgb("C1")) * 255
    assert (np.abs(around - siglip).sum(axis=-1) < 40).sum() >= 10, "no SigLIP mark at F1 = 0 in the eating row"


def test_first_in_the_legend_is_on_top_within_each_class():
    f1s = {"CLIP": pd.Series(1.0, index=CLASSES), "SigLIP": pd.Series(0.5, index=CLASSES)}
    ax = compare_plots.compare_f1_figure(f1s).axes[0]
    dots = {line.get_label().split(":")[0]: line.get_ydata() for line in ax.get_lines() if line.get_marker() == "o"}
    assert (np.asarray(dots["CLIP"]) > np.asarray(dots["SigLIP"])).all()


def test_per_run_figure_titles_name_the_run(tmp_path, monkeypatch):
    seed_campaign(tmp_path, seeds=2)
    titles, drawn = [], {}

    def png(figure):
        titles.append(figure.get_suptitle() or figure.axes[0].get_title())
        return render(figure)

    def write_run_figure(run_dir, name, data):
        drawn[(Path(run_dir).name, Path(run_dir).parent.name, name)] = titles[-1]
        return write(run_dir, name, data)

    render, write = plots.png, plots.write_run_figure
    monkeypatch.setattr(plots, "png", png)
    monkeypatch.setattr(plots, "write_run_figure", write_run_figure)
    assert plot_metrics.main([str(tmp_path / "clip"), str(tmp_path / "siglip"), "--out", str(tmp_path / "cmp")]) == 0
    mine = {name: title for (seed, model, name), title in drawn.items() if (seed, model) == ("seed-2", "siglip")}
    assert len(mine) == 4 and all(t.startswith("SigLIP (seed-2): ") for t in mine.values()), mine
    assert "### SigLIP (seed-2)" in (tmp_path / "cmp" / "REPORT.md").read_text()
