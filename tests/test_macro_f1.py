"""One macro-F1 (core/metrics.macro_f1): a run with a class that has no test image writes the same value into
all_results.json, classification_report.csv's macro row, the model card, per_class_f1.png's line and REPORT.md.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_macro_f1.py -q   (~5 s: imports torch and transformers)
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard
from run_folders import CLASSES
from sklearn.metrics import f1_score
from transformers import EvalPrediction

from har_finetune.core.metrics import compute_metrics, macro_f1
from har_finetune.reporting import run_figures
from har_finetune.run_folder.reader import RunRecord
from har_finetune.training.records import evaluate_and_record


def test_macro_f1_leaves_out_classes_without_test_images():
    """By hand: a (3 images) P 2/2, R 2/3, F1 0.8; b (3 images) P 2/3, R 2/3, F1 2/3; c has no image but is
    predicted once. Macro over {a, b}: 0.7333; scikit-learn's default counts c as 0: 0.4889."""
    labels = ["a", "a", "a", "b", "b", "b"]
    predictions = ["a", "a", "b", "b", "b", "c"]
    assert macro_f1(labels, predictions) == pytest.approx((0.8 + 2 / 3) / 2)
    assert f1_score(labels, predictions, average="macro", zero_division=0) == pytest.approx((0.8 + 2 / 3 + 0) / 3)


class FakeTrainer:
    """What evaluate_and_record uses of a Trainer, with the metrics Trainer.predict would compute (compute_metrics)."""

    def __init__(self, output_dir: Path, logits: np.ndarray, label_ids: np.ndarray):
        self.args = SimpleNamespace(should_save=True, output_dir=str(output_dir), learning_rate=5e-5, seed=0,
                                    num_train_epochs=1, per_device_train_batch_size=8,
                                    use_cpu=True, bf16=False, fp16=False)  # fmt: skip
        self.model = torch.nn.Linear(2, len(CLASSES))
        self.state = SimpleNamespace(epoch=1.0, log_history=[{"eval_accuracy": 0.5}], save_to_json=self._write)
        self.logits, self.label_ids = logits, label_ids

    @staticmethod
    def _write(path: str) -> None:
        Path(path).write_text("{}")

    def save_model(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "config.json").write_text(json.dumps({"model_type": "clip"}))

    def evaluate(self, dataset) -> dict:
        return {"eval_accuracy": 0.5, "eval_loss": 1.0}

    def predict(self, dataset, metric_key_prefix: str):
        metrics = compute_metrics(EvalPrediction(predictions=self.logits, label_ids=self.label_ids))
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in metrics.items()}
        return SimpleNamespace(predictions=self.logits, label_ids=self.label_ids, metrics=metrics)


def finished_run_without_one_class(run_dir: Path) -> Path:
    """4 test images per class except the last class (none), some mistakes, one into the missing class."""
    rng = np.random.default_rng(0)
    label_ids = np.repeat(np.arange(len(CLASSES) - 1), 4)
    predicted = np.where(rng.random(len(label_ids)) < 0.7, label_ids, rng.integers(0, len(CLASSES), len(label_ids)))
    predicted[0] = len(CLASSES) - 1  # a false positive of the class with no test image
    logits = np.eye(len(CLASSES))[predicted] * 5.0
    test = ImageIds(f"train/{CLASSES[c]}/{i}.jpg" for i, c in enumerate(label_ids))
    datasets = {"train": [0] * 10, "validation": [0] * 5, "test": test}
    run_dir.mkdir(parents=True)
    (run_dir / "run_config.json").write_text(  # written at the start of a real run
        json.dumps({"dataset": {"kind": "folder", "root": "data"}, "model_args": {"head": "default"}})
    )
    run = SimpleNamespace(  # a PreparedRun: what evaluate_and_record reads of the run
        spec=SimpleNamespace(model=SimpleNamespace(model_name_or_path="tiny-clip", head="default")),
        source=SimpleNamespace(class_names=CLASSES, root="data"),
        split=SimpleNamespace(num_duplicates=0, skipped=[], test_source="carved", near_duplicate_counts=(0, 0)),
        datasets=datasets,
        model_family=SimpleNamespace(model_type="clip"),
    )
    evaluate_and_record(FakeTrainer(run_dir, logits, label_ids), run, {"train_runtime": 2.0, "epoch": 1.0})
    return run_dir


class ImageIds(list):
    """A test dataset as evaluate_and_record sees it: a length and the image ids."""

    @property
    def ids(self) -> list[str]:
        return list(self)


def test_every_file_gives_the_same_macro_f1(tmp_path):
    run_dir = finished_run_without_one_class(tmp_path / "run")
    results = json.loads((run_dir / "all_results.json").read_text())
    table = pd.read_csv(run_dir / "test_predictions.csv")
    expected = macro_f1(table["label"], table["prediction"])
    assert results["test_macro_f1"] == pytest.approx(expected, abs=1e-12)
    every_class = f1_score(table["label"], table["prediction"], labels=CLASSES, average="macro", zero_division=0)
    assert abs(every_class - expected) > 0.01  # the case that used to disagree
    report = pd.read_csv(run_dir / "classification_report.csv").set_index("class")
    assert report.loc["macro avg", "f1"] == pytest.approx(expected, abs=1e-12)
    assert report.loc[CLASSES[-1], "support"] == 0
    card = ModelCard.load(run_dir / "README.md")
    values = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert values["Macro F1"] == round(expected, 4)
    f1 = run_figures.per_class_f1(RunRecord(run_dir), table, CLASSES)
    assert f1.mean() == pytest.approx(expected, abs=1e-12)  # per_class_f1.png's "macro F1" line
    assert CLASSES[-1] not in f1.index


def test_report_prints_the_same_macro_f1(tmp_path):
    from har_finetune.reporting import loading, markdown, report, run_figures

    run_dir = finished_run_without_one_class(tmp_path / "run")
    table = pd.read_csv(run_dir / "test_predictions.csv")
    expected = f"{macro_f1(table['label'], table['prediction']):.4f}"
    text = markdown.render(
        report.build_report([run_figures.RunPlots(RunRecord(run_dir), "CLIP")], [], tmp_path / "cmp")
    )
    assert f"| {expected} |" in text.split("## Table 2")[0]  # Table 1, from all_results.json
    assert f"| {expected} |" in text.split("## Table 2")[1]  # Table 2
    results = json.loads((run_dir / "all_results.json").read_text())
    del results["test_macro_f1"]  # an older folder: computed from the predictions, the same way
    (run_dir / "all_results.json").write_text(json.dumps(results))
    assert f"{loading.score_run('CLIP', RunRecord(run_dir)).macro_f1:.4f}" == expected
