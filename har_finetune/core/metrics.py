"""Metrics from scikit-learn (not `evaluate.load`, which downloads code from the Hub and fails offline)."""

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.metrics import accuracy_score, classification_report, f1_score
from transformers import EvalPrediction


def logits_of(predictions) -> np.ndarray:
    """Trainer's `predictions`: the logits array, or a tuple whose first element it is."""
    return predictions[0] if isinstance(predictions, tuple) else predictions


def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = logits_of(prediction.predictions)
    predicted = np.argmax(logits, axis=-1)
    return {
        "accuracy": float(accuracy_score(prediction.label_ids, predicted)),
        "macro_f1": float(f1_score(prediction.label_ids, predicted, average="macro", zero_division=0)),
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


def per_class_report(table: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """scikit-learn's per-class precision, recall, F1 and support, then the macro and weighted averages."""
    report = classification_report(
        table["label"], table["prediction"], labels=class_names, output_dict=True, zero_division=0
    )
    rows = [name for name in class_names] + ["macro avg", "weighted avg"]
    return pd.DataFrame(
        [
            {
                "class": name,
                "precision": report[name]["precision"],
                "recall": report[name]["recall"],
                "f1": report[name]["f1-score"],
                "support": int(report[name]["support"]),
            }
            for name in rows
        ]
    )
