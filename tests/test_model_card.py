"""The model card of a run folder (reporting/model_card.py), on a hand-made run folder with a tiny classifier.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_model_card.py    # ~10 s
"""

import torch
from huggingface_hub import ModelCard
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, CLIPForImageClassification, pipeline

from har_finetune.reporting.model_card import write_model_card

CLASSES = ["calling", "clapping", "cycling"]


def make_run_folder(run_dir, checkpoint: str) -> None:
    """What a finished run keeps of the model: the classifier with class names and the image processor."""
    config = AutoConfig.from_pretrained(checkpoint)
    config.id2label, config.label2id = dict(enumerate(CLASSES)), {c: i for i, c in enumerate(CLASSES)}
    torch.manual_seed(0)
    CLIPForImageClassification.from_pretrained(checkpoint, config=config).save_pretrained(run_dir)
    AutoImageProcessor.from_pretrained(checkpoint).save_pretrained(run_dir)


def test_model_card_front_matter_body_and_its_pipeline_snippet_work(tmp_path, tiny_checkpoints):
    run_dir = tmp_path / "clip-har"
    make_run_folder(run_dir, tiny_checkpoints["clip"])
    metrics = {"test_accuracy": 0.83071, "test_macro_f1": 0.8254, "test_loss": 0.61}
    path = write_model_card(
        run_dir,
        base_model="openai/clip-vit-base-patch16",
        dataset="Bingsu/Human_Action_Recognition",
        class_names=CLASSES,
        split_sizes={"train": 9639, "validation": 1071, "test": 1890},
        test_metrics=metrics,
        model_type="clip",
        settings={"learning_rate": 5e-5, "num_train_epochs": 6, "seed": 42},
        versions={"transformers": "5.24.0"},
    )
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
    path = write_model_card(
        tmp_path / "run",
        base_model=tiny_checkpoints["siglip"],
        dataset=str(data),
        class_names=CLASSES,
        split_sizes={"train": 8, "validation": 2, "test": 3},
        test_metrics={"test_accuracy": 1.0},
        model_type="siglip",
        test_split="supplied",
    )
    card = ModelCard.load(path)
    assert card.data.base_model is None and card.data.datasets is None  # a path is not a Hub id
    assert card.data.eval_results[0].dataset_name == "har" and card.data.eval_results[0].dataset_type == "imagefolder"
    assert f"`{tiny_checkpoints['siglip']}` (a local folder)" in card.text
    assert "(3 images, supplied)" in card.text
