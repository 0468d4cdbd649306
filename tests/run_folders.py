"""Hand-written run folders (docs/run_folder.md) and generated dataset images for the plot/report/visualize tests.

Not a test file; imported by tests/test_plots.py, tests/test_report.py and tests/test_visualize.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from argv import training_argv
from PIL import Image
from safetensors.torch import save_file
from sklearn.metrics import classification_report, f1_score

from har_finetune import HAR_CLASSES

CLASSES = list(HAR_CLASSES)
PARAMETERS = {"clip": 85_810_191, "siglip": 92_896_271}


def default_predictions(classes: list[str] = CLASSES, per_class: int = 4, shift: int = 0) -> pd.DataFrame:
    """`per_class` test images per class; the image with (i + class index + shift) % 4 == 0 goes to the next class."""
    rows = []
    for c, label in enumerate(classes):
        for i in range(per_class):
            wrong = (i + c + shift) % 4 == 0
            rows.append(
                {
                    "id": f"train/{label}/img_{i:03d}.jpg",
                    "label": label,
                    "prediction": classes[(c + 1) % len(classes)] if wrong else label,
                    "confidence": 0.55 if wrong else 0.9,
                }
            )
    return pd.DataFrame(rows)


def log_history(epochs: int, steps_per_epoch: int, logging_steps: int, grad_norm: bool, evals: bool) -> list[dict]:
    """Trainer-like log: a training row every `logging_steps`, an eval row at each epoch end, then the summary."""
    history = []
    total = epochs * steps_per_epoch
    for step in range(logging_steps, total + 1, logging_steps):
        row = {
            "loss": 2.7 * np.exp(-step / total) + 0.05 * (step % 3),
            "learning_rate": 5e-5 * (1 - step / total),
            "epoch": step / steps_per_epoch,
            "step": step,
        }
        if grad_norm:
            row["grad_norm"] = 4.0 / (1 + step / 5)
        history.append(row)
        if evals and step % steps_per_epoch == 0:
            k = step // steps_per_epoch
            history.append(
                {
                    "eval_loss": 1.5 / k,
                    "eval_accuracy": 0.6 + 0.1 * k,
                    "eval_macro_f1": 0.58 + 0.1 * k,
                    "epoch": float(k),
                    "step": step,
                }
            )
    history.append({"train_runtime": 12.5, "train_loss": 1.2, "epoch": float(epochs), "step": total})
    return history


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def make_run(
    run_dir: Path,
    family: str = "clip",
    predictions: pd.DataFrame | None = None,
    epochs: int = 3,
    steps_per_epoch: int = 10,
    logging_steps: int = 2,
    grad_norm: bool = True,
    evals: bool = True,
    finished: bool = True,
    dataset_root: Path | None = None,
    peak_gpu_memory_gb: float | None = 7.25,
) -> Path:
    """A complete run folder (or, with `finished=False`, one mid-training: only checkpoint-N/trainer_state.json)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    history = log_history(epochs, steps_per_epoch, logging_steps, grad_norm, evals)
    state = {
        "log_history": history,
        "max_steps": epochs * steps_per_epoch,
        "num_train_epochs": epochs,
        "global_step": epochs * steps_per_epoch,
        "logging_steps": logging_steps,
    }
    write_json(
        run_dir / "run_config.json",
        {
            "family": family,
            "dataset": {
                "kind": "folder",
                "root": str(dataset_root or run_dir.parent / "data"),
                "image_column": "image",
                "label_column": "label",
            },
        },
    )
    if not finished:
        history.pop()  # no summary row yet
        checkpoint = write_checkpoint(run_dir, epochs * steps_per_epoch)
        write_json(checkpoint / "trainer_state.json", state)
        return run_dir
    write_json(run_dir / "trainer_state.json", state)
    write_json(run_dir / "config.json", {"model_type": family, "id2label": {str(i): c for i, c in enumerate(CLASSES)}})
    predictions = default_predictions() if predictions is None else predictions
    predictions.to_csv(run_dir / "test_predictions.csv", index=False)
    split = predictions.assign(split="test")[["id", "label", "split"]]
    split.to_csv(run_dir / "split.csv", index=False)
    write_classification_report(run_dir / "classification_report.csv", predictions)
    eval_accs = [row["eval_accuracy"] for row in history if "eval_accuracy" in row]
    results = {
        "model_type": family,
        "model_name_or_path": f"tiny-{family}",
        "num_parameters": PARAMETERS[family],
        "num_train_samples": 100,
        "num_validation_samples": 20,
        "num_test_samples": len(predictions),
        "num_duplicates_removed": 1,
        "epochs": float(epochs),
        "train_runtime": 12.5 * epochs,
        "train_samples_per_second": 123.456,
        "train_steps_per_second": 7.7,
        "train_loss": 1.2,
        "seconds_per_epoch": 12.5,
        "best_validation_accuracy": max(eval_accs) if eval_accs else None,
        "test_accuracy": float((predictions["label"] == predictions["prediction"]).mean()),
        "test_macro_f1": float(f1_score(predictions["label"], predictions["prediction"], average="macro")),
        "test_loss": 0.8,
        "device": "cpu",
    }
    if peak_gpu_memory_gb is not None:
        results["peak_gpu_memory_gb"] = peak_gpu_memory_gb
    write_json(run_dir / "all_results.json", results)
    return run_dir


def interrupted_run(run_dir: Path) -> Path:
    """What a task interrupted before its first complete checkpoint leaves: run_config.json, a checkpoint-N/ without
    trainer_state.json."""
    run_dir.mkdir(parents=True)
    (run_dir / "run_config.json").write_text(json.dumps({"family": "clip"}))
    (run_dir / "checkpoint-50").mkdir()
    (run_dir / "checkpoint-50" / "config.json").write_text("{}")
    return run_dir


def write_checkpoint(output_dir: Path, step: int) -> Path:
    """A checkpoint folder with the files Trainer writes (tiny contents)."""
    path = output_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"weight": torch.randn(4, 3), "bias": torch.zeros(4)}, path / "model.safetensors")
    (path / "config.json").write_text("{}")
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    torch.save({"state": {}, "param_groups": []}, path / "optimizer.pt")
    torch.save({"last_epoch": step}, path / "scheduler.pt")
    torch.save({"python": None}, path / "rng_state.pth")
    return path


def write_classification_report(path: Path, predictions: pd.DataFrame) -> None:
    """scikit-learn's per-class report in the run folder's CSV layout (class,precision,recall,f1,support)."""
    report = classification_report(
        predictions["label"], predictions["prediction"], labels=CLASSES, output_dict=True, zero_division=0
    )
    rows = [
        {
            "class": name,
            "precision": r["precision"],
            "recall": r["recall"],
            "f1": r["f1-score"],
            "support": r["support"],
        }
        for name, r in report.items()
        if isinstance(r, dict)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def make_images(root: Path, ids: list[str], sizes: list[tuple[int, int]] | None = None) -> Path:
    """A JPEG for each id under `root`, cycling through `sizes` (tiny, wide, tall, large by default)."""
    sizes = sizes or [(24, 18), (640, 360), (120, 480), (1600, 1200)]
    rng = np.random.default_rng(0)
    for k, image_id in enumerate(ids):
        w, h = sizes[k % len(sizes)]
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8) // 2 + np.array([0, 60, 120], dtype=np.uint8)
        path = root / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=85)
    return root


def train_tiny_run(root: Path, family: str = "clip") -> Path:
    """A real run folder from `training.job.main`: tiny random model, synthetic images, 2 epochs (~10 s CPU).

    Reused when `root/family` already holds a finished run, so test modules sharing `root` train only once.
    """
    run_dir = Path(root) / family
    if (run_dir / "all_results.json").is_file():
        return run_dir
    from har_finetune.data.synthetic import make_synthetic_har
    from har_finetune.models.tiny import make_tiny_checkpoint
    from har_finetune.training.job import main

    data = make_synthetic_har(Path(root) / "data", images_per_class=6)
    checkpoint = make_tiny_checkpoint(family, Path(root) / f"tiny-{family}")
    flags = training_argv(
        data, checkpoint, run_dir,
        "--num_train_epochs", "2", "--per_device_train_batch_size", "16", "--logging_steps", "1", "--seed", "0",
    )  # fmt: skip
    assert main(flags, family=family) == 0
    return run_dir
