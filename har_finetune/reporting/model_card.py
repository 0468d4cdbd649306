"""The model card (`README.md`) of a finished run folder: what it is, how well it does, how to use it.

Like the card `Trainer.create_model_card` writes in the stock examples: Hub-style YAML front matter (base model,
datasets, metrics, a `model-index` with the test results, built with huggingface_hub's `ModelCardData`, offline)
and a short body: base checkpoint, dataset and split sizes, test metrics, classes, how to load it with
`pipeline("image-classification", model=RUN_DIR)`, settings and library versions. A run folder pushed to the Hub
later (`hf upload NAME RUN_DIR`) reads well as it is.
"""

from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from har_finetune.run_folder.files import MODEL_CARD, write_text
from har_finetune.run_folder.reader import RunRecord

METRICS = {"test_accuracy": ("accuracy", "Accuracy"), "test_macro_f1": ("f1", "Macro F1")}  # key -> Hub type, name


def _is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not Path(name).exists()


def _link(name: str, kind: str = "") -> str:
    return f"[{name}](https://huggingface.co/{kind}{name})" if _is_hub_id(name) else f"`{name}` (a local folder)"


def card_metadata(
    run_name: str, base_model: str, dataset: str, model_type: str, test_metrics: dict, test_split: str
) -> ModelCardData:
    """The YAML front matter: Hub ids only where they are Hub ids (a local path is not a valid `base_model`)."""
    hub_dataset = _is_hub_id(dataset)
    results = [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=dataset if hub_dataset else "imagefolder",
            dataset_name=dataset if hub_dataset else Path(dataset).name,
            dataset_split=f"test ({test_split})",
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=round(float(test_metrics[key]), 4),
        )
        for key, (metric_type, metric_name) in METRICS.items()
        if key in test_metrics
    ]
    return ModelCardData(
        model_name=run_name,
        base_model=base_model if _is_hub_id(base_model) else None,
        datasets=[dataset] if hub_dataset else None,
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "vision", model_type, "human-action-recognition"],
        metrics=[metric_type for key, (metric_type, _) in METRICS.items() if key in test_metrics],
        eval_results=results or None,
    )


def card_body(
    run_dir: Path,
    base_model: str,
    dataset: str,
    class_names: list[str],
    split_sizes: dict[str, int],
    test_metrics: dict,
    test_split: str,
    settings: dict,
    versions: dict,
) -> str:
    test_rows = [
        f"| {name} | {float(test_metrics[key]):.4f} |" for key, (_, name) in METRICS.items() if key in test_metrics
    ]
    if "test_loss" in test_metrics:
        test_rows.append(f"| Loss | {float(test_metrics['test_loss']):.4f} |")
    test_count = f"{split_sizes['test']:,} images, " if "test" in split_sizes else ""
    sizes = ", ".join(f"{split_sizes[s]:,} {s}" for s in ("train", "validation", "test") if s in split_sizes)
    lines = [
        f"# {run_dir.name}",
        "",
        f"An image classifier of {len(class_names)} human actions: the vision tower of {_link(base_model)} "
        f"fine-tuned on {_link(dataset, 'datasets/')} with `har_finetune` (only the vision tower and a linear head "
        "are kept).",
        "",
        f"## Results on the test split ({test_count}{test_split})",
        "",
        "| metric | value |",
        "|---|---:|",
        *test_rows,
        "",
        f"Split: {sizes} images (duplicates removed before splitting; `split.csv` lists every image). Per-class "
        "figures: `classification_report.csv`; every prediction: `test_predictions.csv`.",
        "",
        f"Classes: {', '.join(class_names)}.",
        "",
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'classifier = pipeline("image-classification", model="{run_dir}")',
        'print(classifier("photo.jpg"))  # the top 5 labels with their probabilities',
        "```",
        "",
        f"or from the command line: `python -m har_finetune.predict {run_dir} photos/`.",
    ]
    for title, values in (("Training settings", settings), ("Framework versions", versions)):
        if values:
            lines += ["", f"## {title}", "", *(f"- {name}: {value}" for name, value in values.items())]
    return "\n".join(lines) + "\n"


def write_model_card(
    run_dir: str | Path,
    base_model: str,
    dataset: str,
    class_names: list[str],
    split_sizes: dict[str, int],
    test_metrics: dict,
    model_type: str,
    test_split: str = "carved",
    settings: dict | None = None,
    versions: dict | None = None,
) -> Path:
    """Write `run_dir/README.md` (atomically) and return its path.

    Args:
        base_model: the checkpoint fine-tuned (Hub id or folder).
        dataset: `--dataset` as given (Hub id or folder).
        split_sizes: images per split, e.g. {"train": 9639, "validation": 1071, "test": 1890}.
        test_metrics: at least `test_accuracy`; `test_macro_f1` and `test_loss` when known (all_results.json keys).
        model_type: `clip`, `siglip` or `siglip2` (a tag).
        test_split: "carved" (a seeded stratified split) or "supplied" (the dataset's own labelled test split).
        settings: a few training settings to list (learning rate, epochs, batch size, seed...).
        versions: library versions (versions.json).
    """
    run_dir = Path(run_dir)
    metadata = card_metadata(run_dir.name, base_model, dataset, model_type, test_metrics, test_split)
    body = card_body(
        run_dir, base_model, dataset, class_names, split_sizes, test_metrics, test_split, settings or {}, versions or {}
    )
    return write_text(run_dir / MODEL_CARD, f"---\n{metadata.to_yaml()}\n---\n\n{body}")


CARD_SETTINGS = ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "seed")


def write_run_card(record: RunRecord, results: dict) -> Path:
    """The card of a run whose final model is saved, from its record and the results about to be written to
    all_results.json (the card comes first: all_results.json is written last)."""
    training, model = record.config.get("training_args") or {}, record.config.get("model_args") or {}
    return write_model_card(
        record.run_dir,
        base_model=results["model_name_or_path"],
        dataset=_dataset_named(record),
        class_names=record.class_names(),
        split_sizes={name: results[f"num_{name}_samples"] for name in ("train", "validation", "test")},
        test_metrics={key: value for key, value in results.items() if key.startswith("test_")},
        model_type=results["model_type"],
        test_split=results["test_split"],
        settings={"head": model.get("head"), **{key: training.get(key) for key in CARD_SETTINGS}},
        versions=record.versions,
    )


def _dataset_named(record: RunRecord) -> str:
    """A Hub id as is; a local folder by its name (a card may be uploaded: no local paths in it)."""
    return record.dataset_name or "an unrecorded dataset"
