"""The model card (`README.md`) of a finished run folder: what it is, how well it does, how to use it.

    write_model_card(RunRecord.load(run_dir), results)   # training/records.py, just before all_results.json

Like the card `Trainer.create_model_card` writes in the stock examples: Hub-style YAML front matter (base model,
datasets, metrics, a `model-index` with the test results, built with huggingface_hub's `ModelCardData`, offline)
and a short body: base checkpoint, dataset and split sizes, test metrics, classes, how to load it with
`pipeline("image-classification", model=RUN_DIR)`, settings and library versions. A run folder pushed to the Hub
later (`hf upload NAME RUN_DIR`) reads well as it is.
"""

from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from har_finetune.run_folder.reader import RunRecord
from har_finetune.run_folder.writer import write_card

METRICS = {"test_accuracy": ("accuracy", "Accuracy"), "test_macro_f1": ("f1", "Macro F1")}  # key -> Hub type, name
CARD_SETTINGS = ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "seed")


@dataclass(frozen=True)
class CardFacts:
    """What the card says, gathered from the run's record and its results (all_results.json's keys)."""

    run_dir: Path
    base_model: str  # the checkpoint fine-tuned (Hub id or folder)
    dataset: str  # a Hub id, or a local folder by its name (a card may be uploaded: no local paths in it)
    model_type: str  # clip, siglip or siglip2 (a tag)
    class_names: list[str]
    split_sizes: dict[str, int]  # images per split, e.g. {"train": 9639, "validation": 1071, "test": 1890}
    test_metrics: dict  # test_accuracy; test_macro_f1 and test_loss when known
    test_split: str  # "carved" (a seeded stratified split) or "supplied" (the dataset's own labelled test split)
    settings: dict  # a few training settings to list
    versions: dict  # library versions (versions.json)

    @classmethod
    def of(cls, record: RunRecord, results: dict) -> "CardFacts":
        training, model = record.config.get("training_args") or {}, record.config.get("model_args") or {}
        return cls(
            run_dir=record.run_dir,
            base_model=results["model_name_or_path"],
            dataset=record.dataset_name or "an unrecorded dataset",
            model_type=results["model_type"],
            class_names=record.class_names(),
            split_sizes={name: results[f"num_{name}_samples"] for name in ("train", "validation", "test")},
            test_metrics={key: value for key, value in results.items() if key.startswith("test_")},
            test_split=results.get("test_split", "carved"),
            settings={"head": model.get("head"), **{key: training.get(key) for key in CARD_SETTINGS}},
            versions=record.versions,
        )


def write_model_card(record: RunRecord, results: dict) -> Path:
    """Write the card of a run whose final model is saved, from its record and the results about to be written to
    all_results.json (the card comes first: all_results.json is written last); returns its path."""
    facts = CardFacts.of(record, results)
    return write_card(record.run_dir, f"---\n{card_metadata(facts).to_yaml()}\n---\n\n{card_body(facts)}")


def _is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not Path(name).exists()


def _link(name: str, kind: str = "") -> str:
    return f"[{name}](https://huggingface.co/{kind}{name})" if _is_hub_id(name) else f"`{name}` (a local folder)"


def card_metadata(facts: CardFacts) -> ModelCardData:
    """The YAML front matter: Hub ids only where they are Hub ids (a local path is not a valid `base_model`)."""
    dataset, test_metrics = facts.dataset, facts.test_metrics
    hub_dataset = _is_hub_id(dataset)
    results = [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=dataset if hub_dataset else "imagefolder",
            dataset_name=dataset if hub_dataset else Path(dataset).name,
            dataset_split=f"test ({facts.test_split})",
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=round(float(test_metrics[key]), 4),
        )
        for key, (metric_type, metric_name) in METRICS.items()
        if key in test_metrics
    ]
    return ModelCardData(
        model_name=facts.run_dir.name,
        base_model=facts.base_model if _is_hub_id(facts.base_model) else None,
        datasets=[dataset] if hub_dataset else None,
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "vision", facts.model_type, "human-action-recognition"],
        metrics=[metric_type for key, (metric_type, _) in METRICS.items() if key in test_metrics],
        eval_results=results or None,
    )


def card_body(facts: CardFacts) -> str:
    run_dir, test_metrics, split_sizes = facts.run_dir, facts.test_metrics, facts.split_sizes
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
        f"An image classifier of {len(facts.class_names)} human actions: the vision tower of "
        f"{_link(facts.base_model)} fine-tuned on {_link(facts.dataset, 'datasets/')} with `har_finetune` (only the "
        "vision tower and a linear head are kept).",
        "",
        f"## Results on the test split ({test_count}{facts.test_split})",
        "",
        "| metric | value |",
        "|---|---:|",
        *test_rows,
        "",
        f"Split: {sizes} images (duplicates removed before splitting; `split.csv` lists every image). Per-class "
        "figures: `classification_report.csv`; every prediction: `test_predictions.csv`.",
        "",
        f"Classes: {', '.join(facts.class_names)}.",
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
    for title, values in (("Training settings", facts.settings), ("Framework versions", facts.versions)):
        if values:
            lines += ["", f"## {title}", "", *(f"- {name}: {value}" for name, value in values.items())]
    return "\n".join(lines) + "\n"
