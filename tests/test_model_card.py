"""The model card of a run folder (reporting/model_card.py), on a hand-made run folder with a tiny classifier.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_model_card.py    # ~10 s
"""

import json

import torch
from huggingface_hub import ModelCard
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, CLIPForImageClassification, pipeline

from har_finetune.reporting.model_card import write_model_card
from har_finetune.run_folder.reader import RunRecord

CLASSES = ["calling", "clapping", "cycling"]


def make_run_folder(run_dir, checkpoint: str) -> None:
    """What a finished run keeps of the model: the classifier with class names and the image processor."""
    config = AutoConfig.from_pretrained(checkpoint)
    config.id2label, config.label2id = dict(enumerate(CLASSES)), {c: i for i, c in enumerate(CLASSES)}
    torch.manual_seed(0)
    CLIPForImageClassification.from_pretrained(checkpoint, config=config).save_pretrained(run_dir)
    AutoImageProcessor.from_pretrained(checkpoint).save_pretrained(run_dir)


def record_of(run_dir, dataset: dict, training_args: dict | None = None, versions: dict | None = None) -> RunRecord:
    """The run's record as training writes it before the card: run_config.json and versions.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"dataset": dataset, "model_args": {"head": "linear"}, "training_args": training_args or {}}
    (run_dir / "run_config.json").write_text(json.dumps(config))
    (run_dir / "versions.json").write_text(json.dumps(versions or {}))
    return RunRecord.load(run_dir)


def results_of(model: str, model_type: str, sizes: tuple[int, int, int], **more) -> dict:
    """all_results.json as training is about to write it."""
    counts = dict(zip(("num_train_samples", "num_validation_samples", "num_test_samples"), sizes))
    return {"model_name_or_path": model, "model_type": model_type, **counts, **more}


def test_model_card_front_matter_body_and_its_pipeline_snippet_work(tmp_path, tiny_checkpoints):
    run_dir = tmp_path / "clip-har"
    make_run_folder(run_dir, tiny_checkpoints["clip"])
    metrics = {"test_accuracy": 0.83071, "test_macro_f1": 0.8254, "test_loss": 0.61}
    record = record_of(
        run_dir,
        dataset={"kind": "hub", "root": "Bingsu/Human_Action_Recognition"},
        training_args={"learning_rate": 5e-5, "num_train_epochs": 6, "seed": 42},
        versions={"transformers": "5.24.0"},
    )
    results = results_of("openai/clip-vit-base-patch16", "clip", (9639, 1071, 1890), test_split="carved", **metrics)
    path = write_model_card(record, results)
    assert path == run_dir / "README.md"
    card = ModelCard.load(path)  # the Hub's own parser reads the front matter back
    assert card.data.base_model == "openai/clip-vit-base-patch16"
    assert card.data.datasets == ["Bingsu/Human_Action_Recognition"]
    assert card.data.pipeline_tag == "image-classification" and card.data.library_name == "transformers"
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"accuracy": 0.8307, "f1": 0.8254}
    assert all(r.dataset_split == "test (carved)" for r in card.data.eval_results)
    body = card.text
    assert "| Accuracy | 0.8307 |" in body and "| Macro F1 | 0.8254 |" in body
    assert "9,639 train, 1,071 validation, 1,890 test images" in body and "calling, clapping, cycling" in body
    assert "- learning_rate: 5e-05" in body and "- transformers: 5.24.0" in body
    snippet = f'pipeline("image-classification", model="{run_dir}")'
    assert snippet in body
    classifier = pipeline("image-classification", model=str(run_dir))  # what the card tells readers to run
    top = classifier(Image.new("RGB", (40, 30), (200, 30, 40)))
    assert {t["label"] for t in top} == set(CLASSES)


def test_local_model_and_dataset_are_named_in_the_text_not_as_hub_ids(tmp_path, tiny_checkpoints):
    data = tmp_path / "har"
    data.mkdir()
    run_dir = tmp_path / "run"
    make_run_folder(run_dir, tiny_checkpoints["clip"])
    record = record_of(run_dir, dataset={"kind": "folder", "root": str(data)})
    results = results_of(tiny_checkpoints["siglip"], "siglip", (8, 2, 3), test_split="supplied", test_accuracy=1.0)
    path = write_model_card(record, results)
    card = ModelCard.load(path)
    assert card.data.base_model is None and card.data.datasets is None  # a path is not a Hub id
    assert card.data.eval_results[0].dataset_name == "har" and card.data.eval_results[0].dataset_type == "imagefolder"
    assert f"`{tiny_checkpoints['siglip']}` (a local folder)" in card.text
    assert "(3 images, supplied)" in card.text
