"""Metrics from scikit-learn (not `evaluate.load`, which downloads code from the Hub and fails offline).

Macro-F1 has one definition, `macro_f1`: the mean of the per-class F1 over the classes that have at least one
image among the true labels. A class without a test image has no recall, so it is left out (scikit-learn's own
`average="macro"` would count it when it is predicted, and `classification_report(labels=...)` always, each as 0);
its false positives still lower the recall of the images' true classes. Training's `test_macro_f1`
(all_results.json, the model card), classification_report.csv's `macro avg` row and REPORT.md all use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.metrics import accuracy_score, classification_report, f1_score

if TYPE_CHECKING:  # the reporting side imports this module without transformers
    from transformers import EvalPrediction


def logits_of(predictions) -> np.ndarray:
    """Trainer's `predictions`: the logits array, or a tuple whose first element it is."""
    return predictions[0] if isinstance(predictions, tuple) else predictions


def macro_f1(labels, predictions) -> float:
    """Mean F1 over the classes present in `labels` (class names or ids), 0 for a class never predicted right."""
    present = np.unique(np.asarray(labels))
    return float(f1_score(labels, predictions, labels=present, average="macro", zero_division=0))


def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = logits_of(prediction.predictions)
    predicted = np.argmax(logits, axis=-1)
    return {
        "accuracy": float(accuracy_score(prediction.label_ids, predicted)),
        "macro_f1": macro_f1(prediction.label_ids, predicted),
    }


def predictions_table(ids: list[str], label_ids: np.ndarray, logits: np.ndarray, class_names: list[str]):
    """One row per image: id, true label, predicted label, confidence (softmax probability of the prediction)."""
    probabilities = softmax(logits.astype(np.float64), axis=-1)
    predicted = probabilities.argmax(axis=-1)
    return pd.DataFrame(
        {
            "id": ids,
            "label": [class_names[i] for i in label_ids],
            "prediction": [class_names[i] for i in predicted],
            "confidence": probabilities.max(axis=-1).round(6),
        }
    )


def probabilities_table(ids: list[str], logits: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """One row per image: id, then the softmax probability of each class (columns in label-id order, 6 decimals):
    the run folder's test_probabilities.csv, which label-error search and top-k views read."""
    probabilities = softmax(logits.astype(np.float64), axis=-1).round(6)
    return pd.concat([pd.DataFrame({"id": ids}), pd.DataFrame(probabilities, columns=class_names)], axis=1)


def per_class_report(table: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """scikit-learn's per-class precision, recall, F1 and support (every class, 0 support included), then the
    macro average over the classes with test images (its F1 is `macro_f1`) and the support-weighted average."""
    report = classification_report(
        table["label"], table["prediction"], labels=class_names, output_dict=True, zero_division=0
    )
    rows = [
        {
            "class": name,
            "precision": report[name]["precision"],
            "recall": report[name]["recall"],
            "f1": report[name]["f1-score"],
            "support": int(report[name]["support"]),
        }
        for name in class_names
    ]
    present = [row for row in rows if row["support"] > 0]
    macro = {key: float(np.mean([row[key] for row in present])) for key in ("precision", "recall")}
    macro["f1"] = macro_f1(table["label"], table["prediction"])
    weighted = report["weighted avg"]
    return pd.DataFrame(
        rows
        + [
            {"class": "macro avg", **macro, "support": int(sum(row["support"] for row in rows))},
            {
                "class": "weighted avg",
                "precision": weighted["precision"],
                "recall": weighted["recall"],
                "f1": weighted["f1-score"],
                "support": int(weighted["support"]),
            },
        ]
    )
