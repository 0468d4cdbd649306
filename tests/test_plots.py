"""Plots from hand-written run folders: files exist, are not blank, carry the expected labels; partial runs.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_plots.py -q
"""

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from run_folders import CLASSES, default_predictions, interrupted_run, log_history, make_run, write_checkpoint

import plot_metrics
from har_finetune.reporting import comparison_figures as compare_plots
from har_finetune.reporting import fonts
from har_finetune.reporting import run_figures as plots
from har_finetune.run_folder import reader as rr
from har_finetune.run_folder.reader import RunRecord

FIGURES = ["train_metrics.png", "eval_metrics.png", "confusion_matrix.png", "per_class_f1.png"]
TAB_BLUE = (31, 119, 180)


def assert_not_blank(path, colour=None):
    """The PNG has contrast (pixel std) and, when given, shows `colour` (e.g. a plotted line) somewhere."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert pixels.std() > 10, f"{path} looks blank"
    if colour is not None:
        near = (np.abs(pixels - np.array(colour)).sum(axis=-1) < 30).mean()
        assert near > 0.001, f"{path} shows no pixels of colour {colour}"


def test_all_figures_from_hand_written_run(tmp_path, capsys):
    run = make_run(tmp_path / "clip")
    assert plot_metrics.main([str(run)]) == 0
    for name in FIGURES:
        assert_not_blank(run / "plots" / name, TAB_BLUE)
    assert "note:" not in capsys.readouterr().out
    assert not list((run / "plots").glob(".*.tmp")), "temporary files left behind"


def test_train_figure_panels_and_epoch_marks():
    train, evals, _ = _frames(epochs=3, steps_per_epoch=10)
    fig, notes = plots.train_figure(train, plots.steps_per_epoch(train, evals), "CLIP")
    loss_ax, lr_ax, grad_ax = fig.axes[:3]
    assert [loss_ax.get_ylabel(), lr_ax.get_ylabel(), grad_ax.get_ylabel()] == [
        "training loss",
        "learning rate",
        "gradient norm",
    ]
    assert grad_ax.get_xlabel() == "step" and notes == []
    epoch_lines = sorted({line.get_xdata()[0] for line in loss_ax.lines if len(set(line.get_xdata())) == 1})
    assert epoch_lines == [10, 20, 30]
    assert [ax.get_xlabel() for ax in loss_ax.child_axes] == ["epoch"], "no epoch axis on top"


def test_eval_figure_per_epoch():
    _, evals, _ = _frames(epochs=4, steps_per_epoch=10)
    fig, notes = plots.eval_figure(evals, "SigLIP")
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_ylabel(), acc_ax.get_ylabel(), acc_ax.get_xlabel()) == (
        "validation loss",
        "validation accuracy, macro-F1",  # the panel plots both
        "epoch",
    )
    assert list(acc_ax.lines[0].get_xdata()) == [1, 2, 3, 4]
    assert np.allclose(acc_ax.lines[0].get_ydata(), [0.7, 0.8, 0.9, 1.0]) and notes == []
    assert fig.get_suptitle() == "SigLIP: validation after each epoch"
    fig, _ = plots.eval_figure(evals.drop(columns=["eval_macro_f1"]), "SigLIP")
    assert fig.axes[1].get_ylabel() == "validation accuracy"


def test_step_based_evaluation_is_not_called_per_epoch():
    """--eval_strategy steps --eval_steps 5 with 8 steps per epoch: evaluations at fractional epochs."""
    evals = pd.DataFrame(
        {
            "step": [5, 10, 15],
            "epoch": [0.625, 1.25, 1.875],
            "eval_loss": [2.0, 1.5, 1.2],
            "eval_accuracy": [0.3, 0.5, 0.6],
        }
    )
    fig, _ = plots.eval_figure(evals, "CLIP")
    assert fig.get_suptitle() == "CLIP: validation every 5 steps"
    assert "after each epoch" not in compare_plots.compare_eval_figure({"CLIP": evals}).get_suptitle()


def test_epoch_marks_with_max_steps_come_from_the_logged_epochs():
    """--max_steps 20 with 8 steps per epoch: Trainer records num_train_epochs 3, but epochs end at steps 8 and 16."""
    history = log_history(epochs=3, steps_per_epoch=8, logging_steps=1, grad_norm=True, evals=True)
    history = [row for row in history if row["step"] <= 20 and "train_runtime" not in row]
    train = pd.DataFrame([r for r in history if "loss" in r])
    evals = pd.DataFrame([r for r in history if "eval_loss" in r])
    assert plots.steps_per_epoch(train, evals) == 8  # not max_steps / num_train_epochs = 20 / 3 (6.7 and 13.3)
    fig, _ = plots.train_figure(train, plots.steps_per_epoch(train, evals), "CLIP")
    epoch_lines = sorted({line.get_xdata()[0] for line in fig.axes[0].lines if len(set(line.get_xdata())) == 1})
    assert epoch_lines == [8, 16]
    # the last step logged in both frames under the same row label (a real run's last logging step is an eval step)
    last = pd.DataFrame({"step": [8, 16], "epoch": [1.0, 2.0], "loss": [1.0, 0.5]})
    assert plots.steps_per_epoch(last, pd.DataFrame({"step": [8, 16], "epoch": [1.0, 2.0]})) == 8


def test_confusion_matrix_names_and_row_normalisation():
    predictions = default_predictions()
    counts, rates, names = plots.confusion_matrix(predictions, CLASSES)
    assert names == CLASSES and counts.sum() == len(predictions)
    assert np.allclose(rates.sum(axis=1), 1)
    assert rates[0, 0] == 0.75 and rates[0, 1] == 0.25  # calling: 3 right, 1 taken for clapping
    ax = plots.confusion_figure(predictions, CLASSES, "CLIP").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")


def test_per_class_f1_sorted_and_computed_without_report(tmp_path):
    run = make_run(tmp_path / "clip")
    from_report = plots.per_class_f1(RunRecord(run), None, CLASSES)
    (run / "classification_report.csv").unlink()
    computed = plots.per_class_f1(RunRecord(run), rr.load_predictions(run), CLASSES)
    assert np.allclose(from_report.reindex(CLASSES), computed.reindex(CLASSES))
    f1 = from_report.copy()
    f1["texting"], f1["calling"] = 0.1, 0.99
    ax = plots.f1_figure(f1, "CLIP").axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "texting" and labels[-1] == "calling"  # worst at the bottom, best at the top


def test_missing_metrics_in_progress_run_still_plots(tmp_path, capsys):
    run = make_run(tmp_path / "clip", finished=False, grad_norm=False, evals=False)
    assert plot_metrics.main([str(run)]) == 0
    assert_not_blank(run / "plots" / "train_metrics.png", TAB_BLUE)
    assert not (run / "plots" / "eval_metrics.png").exists()
    out = capsys.readouterr().out
    for expected in ("gradient norm not logged", "no evaluation logged yet", "no test_predictions.csv"):
        assert expected in out
    assert sum(line.count("note:") for line in out.splitlines()) == 4


def test_eval_without_accuracy_gets_a_note():
    _, evals, _ = _frames(epochs=2, steps_per_epoch=4)
    fig, notes = plots.eval_figure(evals.drop(columns=["eval_accuracy", "eval_macro_f1"]), "CLIP")
    assert notes == ["validation accuracy not logged: its panel is empty"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ('{"log_history": [', "is not valid JSON"),
        ("[]", "expected a JSON object"),
        ("{}", "no log_history"),
    ],
)
def test_broken_trainer_state_is_a_clear_error(tmp_path, capsys, content, message):
    run = make_run(tmp_path / "clip")
    (run / "trainer_state.json").write_text(content)
    assert plot_metrics.main([str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0] and "trainer_state.json" in err[0]
    assert (run / "plots" / "confusion_matrix.png").exists()  # test-split plots do not need the log
    assert not (run / "plots" / "train_metrics.png").exists()


def test_newest_complete_checkpoint_is_read_while_training(tmp_path):
    run = make_run(tmp_path / "clip", finished=False)
    state = json.loads((run / "checkpoint-30" / "trainer_state.json").read_text())
    for step, complete in ((20, True), (40, False), (100, False)):
        (run / f"checkpoint-{step}").mkdir()
        (run / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))
        if not complete:
            (run / f"checkpoint-{step}" / "checkpoint-is-incomplete.txt").touch()
    assert rr.trainer_state_path(run) == run / "checkpoint-30" / "trainer_state.json"


def test_a_half_written_trainer_state_in_the_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    run = make_run(tmp_path / "clip", finished=False)  # checkpoint-30, complete
    newest = write_checkpoint(run, 40)  # every file complete but the state Trainer is writing in place
    state = (run / "checkpoint-30" / "trainer_state.json").read_text()
    (newest / "trainer_state.json").write_text(state[: len(state) // 2])
    assert rr.trainer_state_path(run) == run / "checkpoint-30" / "trainer_state.json"
    assert plot_metrics.main([str(run)]) == 0
    assert (run / "plots" / "train_metrics.png").is_file()


def test_not_a_run_folder_is_one_error_line_and_nothing_else(tmp_path, capsys):
    assert plot_metrics.main([str(tmp_path / "nope")]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"error: {tmp_path / 'nope'}: no such folder (") and len(err.splitlines()) == 1 and out == ""
    (tmp_path / "notes.txt").write_text("not a run")
    assert plot_metrics.main([str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "", "no 'run not finished?' notes before the error"
    (line,) = err.splitlines()
    assert line.startswith(f"error: {tmp_path} is not a run folder") and "campaign folder" in line


def test_a_run_that_has_not_logged_yet_still_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text("{}")  # written before training: the run exists, its log does not yet
    assert plot_metrics.main([str(run)]) == 0  # a run in progress: a note, not an error
    out, err = capsys.readouterr()
    assert err == "" and f"{run}: note: train_metrics.png and eval_metrics.png skipped" in out
    assert "has training started?" in out


def test_a_run_in_progress_beside_a_finished_one_is_a_note_and_exit_0(tmp_path):
    """--help: "works on a run still in progress (plots what exists, notes the rest)": no error line, no exit 2,
    and nothing about resuming (training's business)."""
    make_run(tmp_path / "c" / "seed-1")
    interrupted_run(tmp_path / "c" / "seed-2")
    argv = [sys.executable, plot_metrics.__file__, "c/seed-1", "c/seed-2", "--out", "R"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done
    assert "c/seed-2: note: train_metrics.png and eval_metrics.png skipped: no trainer_state.json" in done.stdout
    assert (tmp_path / "R" / "REPORT.md").is_file()


def test_campaign_folder_stands_for_its_runs(tmp_path, capsys):
    for seed in (1, 2):
        make_run(tmp_path / "campaign" / f"seed-{seed}")
    (tmp_path / "campaign" / "logs").mkdir()  # not a run: ignored
    assert plot_metrics.main([str(tmp_path / "campaign"), "--out", str(tmp_path / "cmp")]) == 0
    for seed in (1, 2):
        for name in FIGURES:
            assert (tmp_path / "campaign" / f"seed-{seed}" / "plots" / name).is_file()
    text = (tmp_path / "cmp" / "REPORT.md").read_text()
    assert "CLIP (seed-1)" in text and "CLIP (seed-2)" in text


def test_one_folder_of_several_runs_gets_the_comparison_in_the_default_folder(tmp_path):
    """`plot_metrics.py CAMPAIGN/clip` (two seed runs, no --out): the comparison goes to outputs/compare, as --help
    says for several runs; one run alone gets only its plots."""
    for seed in (1, 2):
        make_run(tmp_path / "campaign" / "clip" / f"seed-{seed}")
    script = Path(plot_metrics.__file__)
    done = subprocess.run([sys.executable, script, "campaign/clip"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done
    assert (tmp_path / "outputs" / "compare" / "REPORT.md").is_file() and "REPORT.md" in done.stdout
    shutil.rmtree(tmp_path / "outputs")
    one = [sys.executable, script, "campaign/clip/seed-1"]
    assert subprocess.run(one, cwd=tmp_path, capture_output=True).returncode == 0
    assert not (tmp_path / "outputs").exists()


def test_cjk_class_names_get_a_font_with_their_glyphs(tmp_path, capsys, monkeypatch):
    names = ["打电话", "跑步", "calling"]
    predictions = default_predictions(names)
    missing = fonts.missing_characters(names)
    assert missing == set("打电话跑步")  # DejaVu Sans has none of them
    font = fonts.fallback_font(missing)
    if font is None:
        pytest.skip("no CJK font installed here (apt-get install fonts-wqy-microhei to run this test)")
    with fonts.covering(names), warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns 'Glyph ... missing from font(s)' when it draws a box
        fig = plots.confusion_figure(predictions, names, "CLIP")
        plots.save_figure(fig, tmp_path / "cm.png")
    assert fig.axes[0].get_xticklabels()[0].get_fontfamily()[-1] == font


def test_cjk_class_names_without_a_font_warn_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fonts, "fallback_font", lambda characters: None)
    monkeypatch.setattr(fonts, "_warned", set())
    names = ["打电话", "跑步", "calling"]
    runs = [make_run(tmp_path / f"run{k}", predictions=default_predictions(names)) for k in range(2)]
    for run in runs:
        (run / "config.json").write_text(json.dumps({"model_type": "clip", "id2label": dict(enumerate(names))}))
    assert plot_metrics.main([*map(str, runs), "--out", str(tmp_path / "cmp")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: no installed font has the glyphs"), err


@pytest.mark.slow
def test_plots_from_a_real_tiny_run(tiny_run, capsys):
    assert plot_metrics.main([str(tiny_run)]) == 0
    assert "note:" not in capsys.readouterr().out  # the trainer logs loss, learning rate, grad norm and eval
    for name in FIGURES:
        assert_not_blank(tiny_run / "plots" / name, TAB_BLUE)
    train, evals, state = rr.load_log_history(tiny_run)
    assert list(evals["epoch"]) == [1, 2]  # the re-evaluation of the kept model after training is not a point
    assert plots.steps_per_epoch(train, evals) == state["max_steps"] / 2
    predictions = rr.load_predictions(tiny_run)
    ax = plots.confusion_figure(predictions, rr.class_names(tiny_run, predictions), "CLIP").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES


def _frames(epochs, steps_per_epoch):
    history = log_history(epochs, steps_per_epoch, logging_steps=2, grad_norm=True, evals=True)
    train = pd.DataFrame([r for r in history if "loss" in r])
    evals = pd.DataFrame([r for r in history if "eval_loss" in r])
    return train, evals, {"max_steps": epochs * steps_per_epoch, "num_train_epochs": epochs}
