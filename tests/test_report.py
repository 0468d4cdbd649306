"""REPORT.md and overlay figures: the table matches the run folders, confused pairs, relative figure links.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_report.py -q
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_folders import CLASSES, default_predictions, make_run
from scipy import stats as scipy_stats

import plot_metrics
from har_finetune.reporting import comparison_figures as compare_plots
from har_finetune.reporting import groups as comparison
from har_finetune.reporting import loading, markdown, report, tables
from har_finetune.reporting import run_figures as plots
from har_finetune.reporting.scored import pooled_calibration
from har_finetune.run_folder.reader import RunRecord


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
    assert rows["SigLIP"]["Peak GPU mem"] == tables.MISSING  # CPU run: no key in all_results.json
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
    """Every figure is linked inside the report folder: the runs' plots as copies (the folder stands alone)."""
    root, clip, siglip, text = compared
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 3 + 2 + 4 + 4  # overlays, accuracy and reliability, four figures per run
    for link in links:
        assert ".." not in Path(link).parts and (root / "compare" / link).resolve().is_file(), link
    (copy,) = [link for link in links if re.search(r"[/-]clip-", link) and link.endswith("/confusion_matrix.png")]
    assert (root / "compare" / copy).read_bytes() == (clip / "plots" / "confusion_matrix.png").read_bytes()


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
    """Test images are ids with labels (the pairing rule): a dataset copied to another root holds the same images."""
    a = make_run(tmp_path / "clip", "clip", dataset_root=tmp_path / "data")
    b = make_run(tmp_path / "siglip", "siglip", predictions=default_predictions(per_class=3), dataset_root=tmp_path)
    assert "(60 vs 45; 45 shared, ids and labels), so their test numbers are not comparable" in report.split_note(
        [RunRecord(a), RunRecord(b)]
    )
    relabelled = default_predictions().assign(label=lambda f: f["label"].where(f.index > 0, "texting"))
    c = make_run(tmp_path / "siglip2", "siglip", predictions=relabelled, dataset_root=tmp_path / "data")
    assert "(60 vs 60; 59 shared, ids and labels)" in report.split_note([RunRecord(a), RunRecord(c)])


def test_unfinished_run_in_report_and_default_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(Path("outputs/clip"), "clip")
    make_run(Path("outputs/siglip"), "siglip", finished=False, grad_norm=False)
    assert plot_metrics.main(["outputs/clip", "outputs/siglip"]) == 0
    text = Path("outputs/compare/REPORT.md").read_text()
    row = {r["Model"]: r for r in table_rows(text, "Model")}["SigLIP (unfinished)"]
    assert row["Best val acc"] == "90.00%" and row["Test acc"] == tables.MISSING and row["Epochs"] == "3"
    assert "No test_predictions.csv yet." in text


def test_two_runs_of_one_family_get_distinct_names(tmp_path):
    a, b = (make_run(tmp_path / name, "clip", finished=False, evals=False) for name in ("clip_lr1e-5", "clip_lr3e-5"))
    assert plot_metrics.main([str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    models = [r["Model"] for r in table_rows((tmp_path / "cmp" / "REPORT.md").read_text(), "Model")]
    assert models == ["CLIP (clip_lr1e-5) (unfinished)", "CLIP (clip_lr3e-5) (unfinished)"]


@pytest.mark.slow
def test_report_of_a_real_tiny_run(tiny_run, tmp_path):
    assert plot_metrics.main([str(tiny_run), "--out", str(tmp_path)]) == 0
    results = json.loads((tiny_run / "all_results.json").read_text())
    (row,) = table_rows((tmp_path / "REPORT.md").read_text(), "Model")
    assert row["Model"] == "CLIP" and number(row["Parameters"].replace(",", "")) == results["num_parameters"]
    assert number(row["Test acc"]) == pytest.approx(100 * results["test_accuracy"], abs=0.005)
    assert number(row["Best val acc"]) == pytest.approx(100 * results["best_validation_accuracy"], abs=0.005)
    assert row["Peak GPU mem"] == tables.MISSING and row["Epochs"] == "2"


def test_perfect_run_has_no_confused_pairs(tmp_path, capsys):
    """A run that scored 100% on test used to crash confused_pairs (TypeError ... rtruediv)."""
    perfect = confused_predictions(mistakes=())
    assert tables.confused_pairs(perfect).empty
    run = make_run(tmp_path / "clip", "clip", predictions=perfect)
    other = make_run(tmp_path / "siglip", "siglip")
    assert plot_metrics.main([str(run), str(other), "--out", str(tmp_path / "cmp")]) == 0
    assert "No mistakes on the test split." in (tmp_path / "cmp" / "REPORT.md").read_text()


def test_truncated_trainer_state_beside_a_good_run_is_one_error(tmp_path, capsys):
    good = make_run(tmp_path / "clip", "clip")
    broken = make_run(tmp_path / "siglip", "siglip")
    text = (broken / "trainer_state.json").read_text()
    (broken / "trainer_state.json").write_text(text[: len(text) // 2])
    assert plot_metrics.main([str(good), str(broken), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "trainer_state.json is not valid JSON" in err[0]
    rows = {r["Model"] for r in table_rows((tmp_path / "cmp" / "REPORT.md").read_text(), "Model")}
    assert rows == {"CLIP", "SigLIP"}  # the broken run's other files still count


def set_run_config(run: Path, **updates) -> Path:
    path = run / "run_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **updates}))
    return run


def test_title_names_the_dataset_of_the_runs(tmp_path):
    a = make_run(tmp_path / "clip", "clip", dataset_root=tmp_path / "my_actions")
    b = make_run(tmp_path / "siglip", "siglip", dataset_root=tmp_path / "my_actions")
    assert plot_metrics.main([str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "REPORT.md").read_text().startswith("# CLIP vs SigLIP on my_actions\n")
    for run in (a, b):
        set_run_config(run, dataset={"kind": "hub", "root": "Bingsu/Human_Action_Recognition"})
    assert plot_metrics.main([str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "REPORT.md").read_text()
    assert text.startswith("# CLIP vs SigLIP on Bingsu/Human_Action_Recognition\n")


def test_the_same_run_given_twice_appears_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = make_run(Path("clip"), "clip")
    make_run(Path("siglip"), "siglip")
    assert plot_metrics.main(["clip", "siglip", str(a.resolve()), "clip/", "--out", "cmp"]) == 0
    models = [r["Model"] for r in table_rows(Path("cmp/REPORT.md").read_text(), "Model")]
    assert models == ["CLIP", "SigLIP"]


def planted(accuracy: float, n: int = 300, seed: int = 0) -> pd.DataFrame:
    """`n` test images over the 15 classes, a random `accuracy` share right; wrong ones taken for the next class."""
    rng = np.random.default_rng(seed)
    right = np.zeros(n, bool)
    right[rng.permutation(n)[: round(accuracy * n)]] = True
    labels = [CLASSES[i % len(CLASSES)] for i in range(n)]
    return pd.DataFrame(
        {
            "id": [f"train/{label}/{i:04d}.jpg" for i, label in enumerate(labels)],
            "label": labels,
            "prediction": [lab if ok else CLASSES[(CLASSES.index(lab) + 1) % 15] for lab, ok in zip(labels, right)],
            "confidence": np.where(right, 0.9, 0.6),
        }
    )


def identity(model: str, seed: int, **more) -> dict:
    return {"model_name_or_path": model, "split_seed": 42, "learning_rate": 5e-5, "seed": seed, **more}


def report_of(tmp_path, *paths) -> str:
    """REPORT.md's text as plot_metrics writes it, without drawing the per-run figures (the slow part)."""
    runs = [plots.RunPlots(record, record.model_name) for record in loading.load_records(list(paths))]
    report._unique_names(runs)
    return markdown.render(report.build_report(runs, [], tmp_path / "cmp"))


def test_accuracy_and_reliability_figures(tmp_path):
    a = make_run(tmp_path / "clip", "clip", predictions=planted(0.7, seed=1))
    b = make_run(tmp_path / "siglip", "siglip", predictions=planted(0.9, seed=2))
    compared = comparison.compare([("CLIP", RunRecord(a)), ("SigLIP", RunRecord(b))])
    written = compare_plots.write_uncertainty_figures(compared, tmp_path / "cmp")
    assert [p.name for p in written] == ["accuracy.png", "reliability.png"]
    assert all(p.stat().st_size > 5_000 for p in written)
    ax = compare_plots.accuracy_figure(compare_plots.accuracy_rows(compared)).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CLIP", "SigLIP"]  # sorted: the best at the top


def test_planted_difference_on_the_same_split_is_significant(tmp_path):
    clip = make_run(tmp_path / "clip", "clip", predictions=planted(0.70, seed=1))
    siglip = make_run(tmp_path / "siglip", "siglip", predictions=planted(0.90, seed=2))
    text = report_of(tmp_path, clip, siglip)
    (line,) = [line for line in text.splitlines() if line.startswith("- ")]
    assert line.startswith("- **SigLIP is better than CLIP** by 20.00 points (these two trained models; 95% CI ")
    low, high = map(float, re.search(r"95% CI ([-\d.]+) to ([-\d.]+);", line).groups())
    assert 0 < low < 20 < high  # SigLIP - CLIP, the order of the claim
    assert "exact McNemar" in line and "p < 0.001" in line
    (pair,) = table_rows(text, "A")
    assert (pair["A"], pair["B"], pair["A - B (points)"]) == ("CLIP", "SigLIP", "-20.00")
    assert pair["Test"] == "exact McNemar" and pair["Verdict"] == "SigLIP better"
    a_only, b_only = map(int, pair["Only one right"].split(" vs "))
    assert b_only - a_only == 60  # 20 points of 300 images
    rows = {r["Run"]: r for r in table_rows(text, "Run")}
    low, high = scipy_stats.binomtest(270, 300).proportion_ci(method="wilson")
    assert rows["SigLIP"]["95% CI (Wilson)"] == f"{100 * low:.2f} to {100 * high:.2f}"
    # right ones 0.9 confident (bin accuracy 1: gap 0.1), wrong ones 0.6 (bin accuracy 0: gap 0.6)
    assert float(rows["SigLIP"]["ECE"]) == pytest.approx(0.9 * 0.1 + 0.1 * 0.6)
    assert float(rows["CLIP"]["ECE"]) == pytest.approx(0.7 * 0.1 + 0.3 * 0.6)


def test_two_seeds_of_one_model_on_a_small_test_set_are_not_significantly_different(tmp_path):
    """Seed-like runs (60 test images, 3 images apart) recorded without identity: compared as two runs."""
    base = planted(0.80, n=60, seed=3)
    other = base.copy()
    flips = other.index[other["label"] != other["prediction"]][:5]
    other.loc[flips, "prediction"] = other.loc[flips, "label"]  # 5 more right ...
    fixed = other.index[other["label"] == other["prediction"]][:2]
    other.loc[fixed, "prediction"] = "calling"  # ... 2 of them wrong again (or where calling is right: unchanged)
    a = make_run(tmp_path / "seed-1", "clip", predictions=base)
    b = make_run(tmp_path / "seed-2", "clip", predictions=other)
    text = report_of(tmp_path, a, b)
    (line,) = [line for line in text.splitlines() if line.startswith("- ")]
    assert "**no significant difference**, CLIP (seed-1) - CLIP (seed-2) = -" in line and "better" not in line
    (pair,) = table_rows(text, "A")
    assert pair["Verdict"] == "no significant difference" and pair["A - B (points)"].startswith("-")


def test_seed_groups_get_mean_std_and_a_paired_group_comparison(tmp_path):
    data = {"dataset_root": tmp_path / "data"}
    for seed, (clip_acc, siglip_acc) in enumerate([(0.70, 0.90), (0.72, 0.91), (0.69, 0.88)], start=1):
        clip = make_run(tmp_path / "clip" / f"seed-{seed}", "clip", predictions=planted(clip_acc, seed=seed), **data)
        siglip = make_run(
            tmp_path / "siglip" / f"seed-{seed}", "siglip", predictions=planted(siglip_acc, seed=9 + seed), **data
        )
        set_run_config(clip, identity=identity("clip", seed))
        set_run_config(siglip, identity=identity("siglip", seed))
    text = report_of(tmp_path, tmp_path / "clip", tmp_path / "siglip")  # campaign folders
    groups = {r["Configuration"]: r for r in table_rows(text, "Configuration")}
    assert set(groups) == {"CLIP (n=3)", "SigLIP (n=3)"}
    clip = groups["CLIP (n=3)"]
    accuracies = [70.0, 72.0, 69.0]
    assert (
        clip["n"] == "3"
        and clip["Test acc mean ± std"] == f"{np.mean(accuracies):.2f} ± {np.std(accuracies, ddof=1):.2f}%"
    )
    assert clip["Test acc min-max"] == "69.00 to 72.00%"
    configuration, models = table_rows(text, "A")
    assert (configuration["A"], configuration["B"], configuration["Question"]) == ("CLIP (n=3)", "SigLIP (n=3)",
                                                                                  "configuration")  # fmt: skip
    assert configuration["Test"] == "t over seeds and test images"
    assert configuration["Verdict"] == "SigLIP (n=3) better" and models["Verdict"] == "SigLIP (n=3)'s models higher"
    assert configuration["A - B (points)"] == f"{np.mean(accuracies) - np.mean([90, 91, 88]):+.2f}"
    assert "**SigLIP (n=3) is better than CLIP (n=3)**" in text
    assert "Power: a true difference of " in text and "with these seeds and images (3 seeds per model, 300 test" in text
    assert text.startswith("# SigLIP (n=3) vs CLIP (n=3)") or text.startswith("# CLIP (n=3) vs SigLIP (n=3)")


def test_runs_on_different_splits_are_never_paired(tmp_path):
    a = make_run(tmp_path / "clip", "clip", predictions=planted(0.7, seed=1))
    b = make_run(tmp_path / "siglip", "siglip", predictions=planted(0.9, n=240, seed=2))
    text = report_of(tmp_path, a, b)
    assert "Paired comparisons" in text and "better" not in text
    assert (
        "CLIP and SigLIP: they were scored on different test images (300 vs 240; 60 ids only in CLIP, 0 only in "
        "SigLIP; e.g. `train/calling/0240.jpg` only in CLIP)"
    ) in text
    fingerprints = [RunRecord(run).split_fingerprint for run in (a, b)]
    assert fingerprints[0] != fingerprints[1] and all(len(f) == 16 for f in fingerprints)
    set_run_config(b, split_fingerprint=fingerprints[0])  # recorded fingerprints win over split.csv
    assert RunRecord(b).split_fingerprint == fingerprints[0]
    assert "60 ids only in CLIP" in report_of(tmp_path, a, b)  # the test images decide, not the fingerprint


def test_same_test_images_pair_whatever_the_validation_carve(tmp_path):
    predictions = planted(0.8, seed=1)
    a = make_run(tmp_path / "clip", "clip", predictions=predictions)
    b = make_run(tmp_path / "siglip", "siglip", predictions=planted(0.8, seed=2))
    carve = pd.read_csv(b / "split.csv")
    carve = pd.concat(
        [carve, pd.DataFrame({"id": ["train/calling/val.jpg"], "label": ["calling"], "split": ["validation"]})]
    )
    carve.to_csv(b / "split.csv", index=False)  # another validation carve: another split fingerprint
    runs = [loading.score_run(name, RunRecord(d)) for name, d in (("CLIP", a), ("SigLIP", b))]
    assert runs[0].split != runs[1].split
    text = report_of(tmp_path, a, b)
    assert [row["A"] for row in table_rows(text, "A")] == ["CLIP"]  # paired
    relabelled = predictions.copy()
    relabelled.loc[[3, 7], "label"] = "texting"
    c = make_run(tmp_path / "siglip2", "siglip", predictions=relabelled)
    reason = "the same 300 test ids but 2 with another label (e.g. `train/dancing/0003.jpg`: 'dancing' in CLIP, "
    assert reason in report_of(tmp_path, a, c)


def test_a_seed_folder_copied_counts_once_with_a_warning(tmp_path, capsys):
    import shutil

    data = {"dataset_root": tmp_path / "data"}
    for seed, acc in enumerate([0.80, 0.82, 0.84], start=1):
        run = make_run(tmp_path / "clip" / f"seed-{seed}", "clip", predictions=planted(acc, seed=seed), **data)
        set_run_config(run, identity=identity("clip", seed))
    shutil.copytree(tmp_path / "clip" / "seed-1", tmp_path / "clip" / "seed-1-copy")
    compared = comparison.compare([(d.name, RunRecord(d)) for d in sorted((tmp_path / "clip").iterdir())])
    (unit,) = compared.units
    assert len(unit.runs) == 3 and len(compared.runs) == 3
    (warning,) = compared.warnings
    assert "seed-1 (`" in warning and "seed-1-copy (`" in warning and "counted once" in warning
    text = report_of(tmp_path, tmp_path / "clip")
    (row,) = table_rows(text, "Configuration")
    assert row["n"] == "3" and "**Warning:**" not in text  # one unit: no pairs section, the table says n=3


def two_runs(tmp_path, both: int, a_only: int, b_only: int, neither: int) -> tuple[Path, Path]:
    """Two single runs on the same images with the given 2x2 table of right/wrong."""
    n = both + a_only + b_only + neither
    a_right = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, bool)
    b_right = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, bool)
    frames = []
    for right in (a_right, b_right):
        frame = planted(1.0, n=n)
        frame.loc[~right, "prediction"] = [CLASSES[(CLASSES.index(x) + 1) % 15] for x in frame.loc[~right, "label"]]
        frames.append(frame)
    return make_run(tmp_path / "clip", "clip", predictions=frames[0]), make_run(
        tmp_path / "siglip", "siglip", predictions=frames[1]
    )


def test_16_vs_6_is_no_significant_difference_with_an_interval_that_covers_0(tmp_path):
    """Exact McNemar p = 0.0525: not significant, and the interval beside it must contain 0 (the issue's case printed
    0.33 to 6.33). Power by hand: 22 of 300 discordant, 2.801585 * sqrt(22 / 300 / 300) = 4.38 points."""
    text = report_of(tmp_path, *two_runs(tmp_path, 200, 16, 6, 78))
    (line,) = [line for line in text.splitlines() if line.startswith("- ")]
    assert line.startswith("- CLIP vs SigLIP: **no significant difference**, CLIP - SigLIP = +3.33 points")
    low, high = map(float, re.search(r"95% CI ([-\d.]+) to ([-\d.]+);", line).groups())
    assert low < 0 < high and "16 vs 6 images only one got right, p = 0.0525" in line
    (pair,) = table_rows(text, "A")
    assert pair["Verdict"] == "no significant difference" and "is better than" not in text
    power = "Power: a true difference of 4.38 points would be found 80% of the time with these two models' 300 test"
    assert power + " images (22 discordant; 5% level)." in text


def test_an_equal_score_is_no_significant_difference_with_its_interval(tmp_path):
    """Issue 26: +0.00 points is not shown to be a tie; the interval says how large a difference it leaves open."""
    text = report_of(tmp_path, *two_runs(tmp_path, 200, 10, 10, 80))
    (line,) = [line for line in text.splitlines() if line.startswith("- ")]
    said = "- CLIP vs SigLIP: **no significant difference**, CLIP - SigLIP = +0.00 points (these two trained models; "
    assert line.startswith(said + "95% CI -3.04 to 3.04;")  # Clopper-Pearson of 10 of 20, times 20 / 300
    assert "tie" not in text and "p = 1" in line
    assert table_rows(text, "A")[0]["Verdict"] == "no significant difference"


def seed_groups(tmp_path, clip: list[float], siglip: list[float]) -> str:
    data = {"dataset_root": tmp_path / "data"}
    for model, accuracies, offset in (("clip", clip, 0), ("siglip", siglip, 50)):
        for seed, accuracy in enumerate(accuracies, start=1):
            run = make_run(tmp_path / model / f"seed-{seed}", model, predictions=planted(accuracy, seed=seed + offset),
                           **data)  # fmt: skip
            set_run_config(run, identity=identity(model, seed))
    return report_of(tmp_path, tmp_path / "clip", tmp_path / "siglip")


def test_one_lucky_seed_does_not_make_a_configuration_better(tmp_path):
    """The issue's case: 95/80/80% vs 82/82/82% on 300 images. Seed-averaged image-level tests said "better"
    (p = 0.018); over seeds and test images it is not."""
    text = seed_groups(tmp_path, [0.95, 0.80, 0.80], [0.82, 0.82, 0.82])
    configuration = table_rows(text, "A")[0]
    assert configuration["Question"] == "configuration" and configuration["Verdict"] == "no significant difference"
    assert "is better than" not in text
    assert "  - Configuration (a new seed of each on new test images): **no significant difference**, " in text
    assert re.search(r"Power: a true difference of [\d.]+ points would be found 80% of the time with these seeds", text)


def test_a_steady_gap_over_three_seeds_is_better_and_two_seeds_are_not_assessed(tmp_path):
    text = seed_groups(tmp_path, [0.82, 0.83, 0.81], [0.90, 0.91, 0.89])
    assert (
        "  - Configuration (a new seed of each on new test images): **SigLIP (n=3) is better than CLIP (n=3)** by "
        in text
    )
    assert "To find the observed 8.00 points 80% of the time: about 3 seeds per model, from a seed sd of 1.00" in text
    answer = text.split("\n\n")[1]  # the paragraph after the title: the answer, before any table (issue 26)
    assert answer.startswith("**SigLIP (n=3) is better than CLIP (n=3)** by 8.00 points (95% CI ")
    text = seed_groups(tmp_path / "two", [0.82, 0.83], [0.90, 0.91])
    assert "Configuration: **not assessed**: a claim about the configuration needs at least 3 seeds per model" in text
    assert "is better than" not in text
    configuration, models = table_rows(text, "A")
    assert (
        configuration["Verdict"] == "needs ≥ 3 seeds per model" and models["Verdict"] == "SigLIP (n=2)'s models higher"
    )


def test_figures_one_interval_kind_per_row_and_legend_eces_from_the_tables(tmp_path):
    text = seed_groups(tmp_path, [0.82, 0.83, 0.81], [0.90, 0.91])
    single = make_run(tmp_path / "single", "clip", predictions=planted(0.85, seed=99), dataset_root=tmp_path / "data")
    compared = comparison.compare(
        [(d.name, RunRecord(d)) for model in ("clip", "siglip") for d in sorted((tmp_path / model).iterdir())]
        + [("one", RunRecord(single))]
    )
    rows = {row.name: row for row in compare_plots.accuracy_rows(compared)}
    assert rows["CLIP (n=3)"].kind == compare_plots.GROUP_INTERVAL and len(rows["CLIP (n=3)"].seeds) == 3
    assert rows["SigLIP (n=2)"].kind == compare_plots.GROUP_NO_INTERVAL and np.isnan(rows["SigLIP (n=2)"].low)
    assert rows["one"].kind == compare_plots.RUN_INTERVAL
    low, high = rows["CLIP (n=3)"].low, rows["CLIP (n=3)"].high
    assert low < 0.81 and high > 0.83  # seeds and test images: wider than the seeds' range
    figure = compare_plots.accuracy_figure(list(rows.values()))
    (legend,) = figure.legends
    kinds = {compare_plots.GROUP_INTERVAL, compare_plots.GROUP_NO_INTERVAL, compare_plots.RUN_INTERVAL, "one seed"}
    assert {t.get_text() for t in legend.get_texts()} == kinds
    curves = {u.name: pooled_calibration(u.runs) for u in compared.units}
    figure = compare_plots.reliability_figure(curves)
    assert all(ax.get_legend() is None for ax in figure.axes) and len(figure.axes) == 2  # legend below, bin counts
    printed = {r["ECE (seeds pooled)"] for r in table_rows(text, "Configuration")}
    legend_eces = {re.search(r"ECE ([\d.]+)\)", t.get_text()).group(1) for t in figure.legends[0].get_texts()[1:]}
    assert printed <= legend_eces
