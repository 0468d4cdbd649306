"""REPORT.md and overlay figures: the table matches the run folders, confused pairs, relative figure links.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_report.py -q
"""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from run_folders import CLASSES, default_predictions, make_run, train_tiny_run

import plot_metrics
from har_finetune import compare_plots, plots, report


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Two finished runs (CLIP, SigLIP) on the same test images, plotted and reported into compare/."""
    root = tmp_path_factory.mktemp("runs")
    clip = make_run(root / "outputs" / "clip", "clip", predictions=confused_predictions())
    siglip_predictions = confused_predictions([("calling", "texting", 2)])
    siglip = make_run(
        root / "outputs" / "siglip", "siglip", predictions=siglip_predictions, epochs=4, peak_gpu_memory_gb=None
    )
    assert plot_metrics.main([str(clip), str(siglip), "--out", str(root / "compare")]) == 0
    return root, clip, siglip, (root / "compare" / "REPORT.md").read_text()


def confused_predictions(mistakes=(("eating", "drinking", 3), ("texting", "calling", 2), ("hugging", "fighting", 1))):
    """6 images per class, all right except `mistakes`: (true class, predicted class, how many)."""
    rows = [
        {"id": f"train/{c}/{i}.jpg", "label": c, "prediction": c, "confidence": 0.9} for c in CLASSES for i in range(6)
    ]
    frame = pd.DataFrame(rows)
    for label, prediction, count in mistakes:
        frame.loc[frame.index[frame["label"] == label][:count], "prediction"] = prediction
    return frame


def table_rows(markdown: str, first_header: str) -> list[dict[str, str]]:
    """Parse the Markdown table whose header starts with `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def number(cell: str) -> float:
    return float(re.match(r"[-\d.]+", cell).group())


def test_table_matches_the_run_folders(compared):
    _, clip, siglip, text = compared
    rows = {row["Model"]: row for row in table_rows(text, "Model")}
    assert set(rows) == {"CLIP", "SigLIP"}
    for name, run in (("CLIP", clip), ("SigLIP", siglip)):
        results, row = json.loads((run / "all_results.json").read_text()), rows[name]
        assert number(row["Parameters"]) == pytest.approx(results["num_parameters"] / 1e6, abs=0.05)
        assert number(row["Best val acc"]) == pytest.approx(100 * results["best_validation_accuracy"], abs=0.005)
        assert number(row["Test acc"]) == pytest.approx(100 * results["test_accuracy"], abs=0.005)
        assert number(row["Test macro-F1"]) == pytest.approx(results["test_macro_f1"], abs=5e-5)
        assert number(row["s / epoch"]) == pytest.approx(results["seconds_per_epoch"], abs=0.05)
        assert number(row["Train img/s"]) == pytest.approx(results["train_samples_per_second"], abs=0.05)
        assert number(row["Epochs"]) == results["epochs"]
    assert number(rows["CLIP"]["Peak GPU mem"]) == 7.25
    assert rows["SigLIP"]["Peak GPU mem"] == report.MISSING  # CPU run: no key in all_results.json
    assert "same 90 test images" in text


def test_most_confused_pairs(compared):
    text = compared[3]
    clip_section = text.split("### CLIP")[1]
    pairs = table_rows(clip_section, "True class")
    assert [(p["True class"], p["Predicted as"], p["Images"]) for p in pairs] == [
        ("eating", "drinking", "3"),
        ("texting", "calling", "2"),
        ("hugging", "fighting", "1"),
    ]
    assert pairs[0]["Share of true class"] == "50.0%"


def test_figures_are_embedded_by_relative_path(compared):
    root, clip, siglip, text = compared
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 3 + 4 + 4  # overlays + four figures per run
    for link in links:
        assert not Path(link).is_absolute() and (root / "compare" / link).resolve().is_file(), link
    assert "../outputs/clip/plots/confusion_matrix.png" in links


def test_overlay_figures_name_each_run(compared):
    root = compared[0]
    for name in ("compare_eval.png", "compare_train_loss.png", "compare_per_class_f1.png"):
        assert (root / "compare" / name).stat().st_size > 10_000
    evals = {
        "CLIP": pd.DataFrame({"epoch": [1, 2], "eval_accuracy": [0.7, 0.8], "eval_loss": [1.0, 0.9]}),
        "SigLIP": pd.DataFrame({"epoch": [1, 2], "eval_accuracy": [0.8, 0.9], "eval_loss": [0.8, 0.6]}),
    }
    fig = compare_plots.compare_eval_figure(evals)
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CLIP", "SigLIP"]


def test_different_test_splits_warn(tmp_path):
    a = make_run(tmp_path / "clip", "clip", dataset_root=tmp_path / "data")
    b = make_run(tmp_path / "siglip", "siglip", predictions=default_predictions(per_class=3), dataset_root=tmp_path)
    assert "(60 vs 45; 0 shared)" in report.split_note([a, b])  # other dataset root: same ids, other images
    c = make_run(
        tmp_path / "siglip2", "siglip", predictions=default_predictions(per_class=3), dataset_root=tmp_path / "data"
    )
    assert "(60 vs 45; 45 shared), so their test numbers are not comparable" in report.split_note([a, c])


def test_unfinished_run_in_report_and_default_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(Path("outputs/clip"), "clip")
    make_run(Path("outputs/siglip"), "siglip", finished=False, grad_norm=False)
    assert plot_metrics.main(["outputs/clip", "outputs/siglip"]) == 0
    text = Path("outputs/compare/REPORT.md").read_text()
    row = {r["Model"]: r for r in table_rows(text, "Model")}["SigLIP (unfinished)"]
    assert row["Best val acc"] == "90.00%" and row["Test acc"] == report.MISSING and row["Epochs"] == "3"
    assert "No test_predictions.csv yet." in text


def test_two_runs_of_one_family_get_distinct_names(tmp_path):
    a, b = (make_run(tmp_path / name, "clip", finished=False, evals=False) for name in ("clip_lr1e-5", "clip_lr3e-5"))
    assert plot_metrics.main([str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    models = [r["Model"] for r in table_rows((tmp_path / "cmp" / "REPORT.md").read_text(), "Model")]
    assert models == ["CLIP (clip_lr1e-5) (unfinished)", "CLIP (clip_lr3e-5) (unfinished)"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.getbasetemp() / "real_tiny_run")


@pytest.mark.slow
def test_report_of_a_real_tiny_run(tiny_run, tmp_path):
    assert plot_metrics.main([str(tiny_run), "--out", str(tmp_path)]) == 0
    results = json.loads((tiny_run / "all_results.json").read_text())
    (row,) = table_rows((tmp_path / "REPORT.md").read_text(), "Model")
    assert row["Model"] == "CLIP" and number(row["Parameters"].replace(",", "")) == results["num_parameters"]
    assert number(row["Test acc"]) == pytest.approx(100 * results["test_accuracy"], abs=0.005)
    assert number(row["Best val acc"]) == pytest.approx(100 * results["best_validation_accuracy"], abs=0.005)
    assert row["Peak GPU mem"] == report.MISSING and row["Epochs"] == "2"
