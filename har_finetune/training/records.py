"""What a run writes about itself, all through the run folder's one writer (run_folder/writer.py): at the start
its split and settings record (`write_start_records`); once trained, the kept model's evaluation on the validation
and test splits, then its files, predictions, per-class report, model card and all_results.json last
(`evaluate_and_record`). docs/run_folder.md specifies the files."""

import logging
import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from transformers import Trainer

from har_finetune.core.metrics import logits_of, per_class_report, predictions_table, probabilities_table
from har_finetune.data.labelled import LabelledImages
from har_finetune.data.split import Split
from har_finetune.models.registry import count_parameters
from har_finetune.reporting.model_card import write_model_card
from har_finetune.run_folder.reader import RunRecord
from har_finetune.run_folder.writer import (
    replace_model_files,
    write_results,
    write_run_config,
    write_split,
    write_test_predictions,
)
from har_finetune.settings.environment import precision_in_use
from har_finetune.settings.spec import RunSpec
from har_finetune.training.prepared import PreparedRun

logger = logging.getLogger("har_finetune")


def library_versions() -> dict[str, str | None]:
    packages = ("torch", "torchvision", "transformers", "datasets", "accelerate", "scikit-learn", "pillow", "numpy")
    return {"python": platform.python_version(), **{name: _version(name) for name in packages}}


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:  # e.g. `datasets`, needed only for Hub-format data (not on the GPU machine)
        return None


def write_start_records(spec: RunSpec, source: LabelledImages, split: Split, identity: dict) -> None:
    """split.csv, skipped_images.csv and near_duplicates.csv, then run_config.json (with the split's fingerprint)
    and versions.json. A resumed run trained on another split stops here (writer.write_split)."""
    fingerprint = write_split(spec.run_dir, split.table, split.skipped, split.near_duplicates)
    config = run_config(spec, source, identity)
    write_run_config(spec.run_dir, config | {"split_fingerprint": fingerprint}, library_versions())


def run_config(spec: RunSpec, source: LabelledImages, identity: dict) -> dict:
    """run_config.json: the resolved settings, the dataset's location and the run's identity (run_folder/identity.py).
    `model_type` names the run the same way while it trains and once it has finished."""
    local = source.kind != "hub" or Path(source.root).exists()
    return {
        "family": spec.family,
        "model_type": identity.get("model_type"),
        "precision": precision_in_use(spec.training),  # what this start computes in (not the flags alone)
        "identity": identity,
        "model_args": vars(spec.model),
        "data_args": vars(spec.data),
        "training_args": spec.training.to_dict(),
        "dataset": {
            "kind": source.kind,
            "root": str(Path(source.root).resolve()) if local else source.root,
            "image_column": source.image_column,
            "label_column": source.label_column,
        },
    }


def evaluate_and_record(
    trainer: Trainer,
    run: PreparedRun,
    train_metrics: dict,
    extra_results: dict | None = None,
    resumed_from_epoch: float = 0.0,
) -> None:
    """The kept model evaluated on the validation split and run on the test split; then (rank 0) its files, test
    predictions, per-class report, model card, and all_results.json last: the run is finished.

    `extra_results` (e.g. the WiSE-FT choice) are added to all_results.json. After a resume from a checkpoint
    taken at `resumed_from_epoch`, Trainer's train_* figures cover only this process's part of the training."""
    datasets, split, source, model_args = run.datasets, run.split, run.source, run.spec.model
    eval_metrics = trainer.evaluate(datasets["validation"])
    test = trainer.predict(datasets["test"], metric_key_prefix="test")
    if not trainer.args.should_save:
        return
    output_dir = Path(trainer.args.output_dir)
    replace_model_files(  # the old model files stay until all new ones are written
        output_dir, lambda folder: trainer.save_model(str(folder)), lambda path: trainer.state.save_to_json(str(path))
    )
    ids, logits = datasets["test"].ids, logits_of(test.predictions)
    table = predictions_table(ids, test.label_ids, logits, source.class_names)
    probabilities = probabilities_table(ids, logits, source.class_names)
    write_test_predictions(output_dir, table, per_class_report(table, source.class_names), probabilities)
    record = RunRecord.load(output_dir)
    epochs = train_metrics.get("epoch") or trainer.state.epoch
    epochs_timed = epochs - resumed_from_epoch  # what train_runtime measured
    history = [e["eval_accuracy"] for e in trainer.state.log_history if "eval_accuracy" in e]
    results = {
        "model_type": run.model_family.model_type,
        "model_name_or_path": model_args.model_name_or_path,
        "num_parameters": count_parameters(trainer.model),
        **{f"num_{name}_samples": len(ds) for name, ds in datasets.items()},
        "num_duplicates_removed": split.num_duplicates,
        "num_skipped_images": len(split.skipped),
        "num_near_duplicate_groups": split.near_duplicate_counts[0],
        "num_near_duplicate_images": split.near_duplicate_counts[1],
        "test_split": split.test_source,
        "epochs": epochs,
        **train_metrics,
        "seconds_per_epoch": train_metrics["train_runtime"] / epochs_timed if epochs_timed > 0 else math.nan,
        "resumed_from_epoch": resumed_from_epoch,
        "best_validation_accuracy": max(history) if history else eval_metrics["eval_accuracy"],
        **eval_metrics,
        **test.metrics,
        "device": _device_name(),
        "precision": precision_in_use(trainer.args),
        "split_fingerprint": record.split_fingerprint,
        **(extra_results or {}),
    }
    if torch.cuda.is_available():
        results["peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    write_model_card(record, results)
    write_results(output_dir, results)  # last: the run is finished
    logger.info(
        "test accuracy %.4f, macro-F1 %.4f (%d images); run folder %s",
        results["test_accuracy"],
        results["test_macro_f1"],
        len(datasets["test"]),
        output_dir,
    )


def _device_name() -> str:
    return f"cuda:{torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"
