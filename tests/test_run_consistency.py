"""The run folder agrees with itself: predictions are the split's test images, metrics are those predictions'.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_run_consistency.py    # ~20 s

Quick on purpose (not `slow`): the quick subset must catch a wrong split, wrong labels and wrong metrics.
"""

import json

import numpy as np
import pandas as pd
import pytest
from argv import training_argv
from helpers_bad_input import flags, make_dataset, tiny_checkpoint
from sklearn.metrics import accuracy_score, f1_score
from transformers import EvalPrediction

from har_finetune.core.metrics import compute_metrics
from har_finetune.data.synthetic import make_synthetic_har
from har_finetune.models.tiny import make_tiny_checkpoint
from har_finetune.training.job import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run whose validation and test splits have the same size (--max_eval_samples): the case where
    scoring the wrong split would go unnoticed by the sizes alone."""
    root = tmp_path_factory.mktemp("consistency")
    data = make_synthetic_har(root / "data", images_per_class=6)
    checkpoint = make_tiny_checkpoint("clip", root / "tiny-clip")
    out = root / "run"
    argv = training_argv(
        data, checkpoint, out,
        "--num_train_epochs", "2", "--per_device_train_batch_size", "16", "--max_eval_samples", "8",
        "--logging_steps", "1", "--seed", "0",
    )  # fmt: skip
    assert main(argv, family="clip") == 0
    split = pd.read_csv(out / "split.csv", keep_default_na=False)
    assert (split["split"] == "validation").sum() >= 8 and (split["split"] == "test").sum() >= 8
    return out


def test_predictions_are_the_test_split_with_its_labels(run):
    split = pd.read_csv(run / "split.csv", keep_default_na=False).set_index("id")
    predictions = pd.read_csv(run / "test_predictions.csv", keep_default_na=False)
    assert len(predictions) == 8 and predictions["id"].is_unique
    assert set(split.loc[predictions["id"], "split"]) == {"test"}  # no validation or training image
    assert (split.loc[predictions["id"], "label"].to_numpy() == predictions["label"].to_numpy()).all()


def test_reported_metrics_are_those_of_the_predictions(run):
    results = json.loads((run / "all_results.json").read_text())
    predictions = pd.read_csv(run / "test_predictions.csv", keep_default_na=False)
    truth, predicted = predictions["label"], predictions["prediction"]
    assert results["num_test_samples"] == len(predictions)
    assert results["test_accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    # macro-F1 over the classes with test images (8 images: most classes have none), as core.metrics.macro_f1 says
    present = sorted(set(truth))
    expected = f1_score(truth, predicted, labels=present, average="macro", zero_division=0)
    assert results["test_macro_f1"] == pytest.approx(expected)
    report = pd.read_csv(run / "classification_report.csv", keep_default_na=False).set_index("class")
    assert report.loc["macro avg", "f1"] == pytest.approx(expected)


def test_macro_f1_is_the_unweighted_mean_over_classes():
    # 8 images of class 0, 2 of class 1; class 1 is always missed: F1 0 for it, ~0.89 for class 0
    labels = np.array([0] * 8 + [1] * 2)
    logits = np.zeros((10, 2))
    logits[:, 0] = 1.0
    metrics = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    predicted = logits.argmax(-1)
    assert metrics["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert metrics["macro_f1"] == pytest.approx((16 / 18 + 0) / 2)
    assert metrics["macro_f1"] != pytest.approx(f1_score(labels, predicted, average="weighted"))
    assert metrics["accuracy"] == pytest.approx(0.8)


@pytest.fixture(scope="module")
def eval_subsets(tmp_path_factory) -> dict[int, pd.DataFrame]:
    """--seed -> test predictions of a run with --max_eval_samples 4 (same data, same split seed)."""
    root = tmp_path_factory.mktemp("subsets")
    data, checkpoint = make_dataset(root / "data", per_class=20), tiny_checkpoint(tmp_path_factory)
    runs = {}
    for seed in (1, 2):
        out = root / f"seed-{seed}"
        argv = flags(data, checkpoint, out, "--max_eval_samples", "4", "--seed", str(seed), "--max_steps", "2")
        assert main(argv, family="clip") == 0
        runs[seed] = pd.read_csv(out / "test_predictions.csv")
    return runs


def test_max_eval_samples_scores_every_seed_on_the_same_images(eval_subsets):
    """The subset is drawn with --split_seed, not --seed: runs with other seeds are scored on the same images."""
    assert len(eval_subsets[1]) == 4
    assert sorted(eval_subsets[1]["id"]) == sorted(eval_subsets[2]["id"])
