"""Zero-shot: prompts, tiny tokenizers, `--head zero_shot` equals the model's own zero-shot logits, the baseline row.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_zero_shot.py -q      # ~15 s; -m "not slow": ~5 s
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from argv import training_argv
from PIL import Image
from run_folders import make_run
from test_report import table_rows
from transformers import AutoImageProcessor, AutoTokenizer

from har_finetune import HAR_CLASSES
from har_finetune.models.registry import FAMILIES, load_classifier
from har_finetune.models.tiny import prompt_corpus
from har_finetune.models.zero_shot import DEFAULT_TEMPLATES, class_phrase, prompts
from har_finetune.reporting import markdown, report
from har_finetune.reporting import run_figures as plots
from har_finetune.run_folder.reader import RunRecord
from har_finetune.training.job import main

CLASSES = list(HAR_CLASSES)


def random_images(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (40 + 3 * i, 50, 3), dtype=np.uint8)) for i in range(count)]


def reference_logits(checkpoint: str, model_type: str, texts: list[str], images: list[Image.Image]) -> torch.Tensor:
    """`logits_per_image` of the checkpoint's own dual model: the zero-shot classifier as transformers computes it."""
    family = FAMILIES[model_type]
    dual = family.dual_model_class.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    length = family.prompt_max_length
    text = tokenizer(
        texts, padding="max_length" if length else True, max_length=length, truncation=True, return_tensors="pt"
    )
    pixels = AutoImageProcessor.from_pretrained(checkpoint)(images=images, return_tensors="pt")
    with torch.no_grad():
        return dual(**text, **pixels).logits_per_image


def head_logits(model, checkpoint: str, images: list[Image.Image]) -> torch.Tensor:
    pixels = AutoImageProcessor.from_pretrained(checkpoint)(images=images, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**pixels).logits


def test_class_phrases_and_prompts():
    assert class_phrase("listening_to_music") == "listening to music"
    assert prompts(["using_laptop", "sitting"], ["a photo of a person {}.", "{}!"]) == [
        "a photo of a person using laptop.",
        "using laptop!",
        "a photo of a person sitting.",
        "sitting!",
    ]
    for bad in (["no placeholder"], ["{} and {}"], []):
        with pytest.raises(ValueError, match="exactly one"):
            prompts(["x"], bad)


@pytest.mark.parametrize(
    "model_type,tokenizer_class",
    [("clip", "CLIPTokenizer"), ("siglip", "SiglipTokenizer"), ("siglip2", "Siglip2Tokenizer")],
)
def test_tiny_checkpoints_have_a_matching_tokenizer(tiny_checkpoints, model_type, tokenizer_class):
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoints[model_type])
    assert type(tokenizer).__name__ == tokenizer_class
    config = json.loads((Path(tiny_checkpoints[model_type]) / "config.json").read_text())
    assert config["text_config"]["vocab_size"] == len(tokenizer)
    assert config["text_config"]["eos_token_id"] == tokenizer.eos_token_id
    ids = tokenizer(prompt_corpus(), add_special_tokens=False)["input_ids"]
    assert max(max(row) for row in ids) < len(tokenizer)
    assert tokenizer.unk_token_id not in {i for row in ids for i in row}  # the vocabulary covers every prompt
    assert len({tuple(row) for row in ids}) == len(ids)  # and tells them apart


@pytest.mark.parametrize("model_type", ["clip", "siglip", "siglip2"])
def test_zero_shot_head_equals_the_models_zero_shot_logits(tiny_checkpoints, model_type):
    checkpoint, template = tiny_checkpoints[model_type], "a photo of a person {}."
    model, family = load_classifier(checkpoint, CLASSES, seed=0, head="zero_shot", templates=[template])
    assert family.model_type == model_type and model.config.id2label[9] == "listening_to_music"
    images = random_images(6)
    ours = head_logits(model, checkpoint, images)
    reference = reference_logits(checkpoint, model_type, prompts(CLASSES, [template]), images)
    assert ours.shape == (6, 15)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    assert torch.equal(ours.argmax(-1), reference.argmax(-1))
    assert reference.std(dim=-1).min() > 1e-3  # the comparison is not between constant logits


def test_several_templates_average_the_normalised_text_embeddings(tiny_checkpoints):
    checkpoint, templates = tiny_checkpoints["clip"], ["a photo of a person {}.", "a photo of someone {}."]
    model, _ = load_classifier(checkpoint, CLASSES, seed=0, head="zero_shot", templates=templates)
    images = random_images(4)
    per_template = [reference_logits(checkpoint, "clip", prompts(CLASSES, [t]), images) for t in templates]
    dual = FAMILIES["clip"].dual_model_class.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    with torch.no_grad():
        text = [
            dual.get_text_features(**tokenizer(prompts(CLASSES, [t]), padding=True, return_tensors="pt")).pooler_output
            for t in templates
        ]
    unit_sum = sum(torch.nn.functional.normalize(t, dim=-1) for t in text)  # one row per class
    torch.testing.assert_close(
        model.classifier.weight, dual.logit_scale.exp() * unit_sum / unit_sum.norm(dim=-1, keepdim=True)
    )
    # scale * <image, t1 + t2> / |t1 + t2| = (logits of template 1 + logits of template 2) / |t1 + t2|
    expected = (per_template[0] + per_template[1]) / unit_sum.norm(dim=-1)
    torch.testing.assert_close(head_logits(model, checkpoint, images), expected, rtol=1e-4, atol=1e-4)


def test_default_head_unchanged_and_siglip_pooling_head_only_for_zero_shot(tiny_checkpoints):
    default, _ = load_classifier(tiny_checkpoints["siglip"], CLASSES, seed=0)
    zero_shot, _ = load_classifier(tiny_checkpoints["siglip"], CLASSES, seed=0, head="zero_shot")
    assert type(default).__name__ == "SiglipForImageClassification"
    assert not any(".head." in name for name, _ in default.named_parameters())  # unused by mean pooling: dropped
    assert any(name.endswith("head.probe") for name, _ in zero_shot.named_parameters())  # SigLIP's image embedding
    with pytest.raises(ValueError, match="default, zero_shot"):
        load_classifier(tiny_checkpoints["siglip"], CLASSES, seed=0, head="linear")


def test_report_has_a_zero_shot_baseline_row(tmp_path):
    run = make_run(tmp_path / "outputs" / "clip", "clip")
    (run / "zero_shot_results.json").write_text(
        json.dumps({"test_accuracy": 0.4321, "test_macro_f1": 0.39876, "templates": list(DEFAULT_TEMPLATES)})
    )
    other = make_run(tmp_path / "outputs" / "siglip", "siglip")  # no baseline: no extra row
    runs = [
        plots.RunPlots(RunRecord(run), "CLIP"),
        plots.RunPlots(RunRecord(other), "SigLIP"),
    ]  # no figures: tests/test_report.py does them
    rows = table_rows(markdown.render(report.build_report(runs, [], tmp_path / "compare")), "Model")
    assert [r["Model"] for r in rows] == ["CLIP zero-shot", "CLIP", "SigLIP"]
    assert rows[0]["Test acc"] == "43.21%" and rows[0]["Test macro-F1"] == "0.3988" and rows[0]["Epochs"] == "0"
    assert rows[0]["Best val acc"] == "—" and rows[1]["Test acc"] != rows[0]["Test acc"]


@pytest.mark.slow
def test_zero_shot_flag_writes_the_baseline_before_training(tiny_checkpoints, learnable_har, tmp_path):
    """Default head: the baseline is a separately built zero-shot classifier on the same test images."""
    run = tmp_path / "run"
    argv = training_argv(
        learnable_har,
        tiny_checkpoints["clip"],
        str(run),
        "--zero_shot",
        "--prompt_templates",
        "a photo of a person {}.",
        "--num_train_epochs",
        "1",
        "--max_train_samples",
        "30",
    )
    assert main(argv, family="clip") == 0
    results = json.loads((run / "zero_shot_results.json").read_text())
    baseline = pd.read_csv(run / "zero_shot_predictions.csv")
    tested = pd.read_csv(run / "test_predictions.csv")
    assert list(baseline["id"]) == list(tested["id"])  # same test split as the fine-tuned model
    assert results["test_accuracy"] == pytest.approx((baseline["label"] == baseline["prediction"]).mean())
    assert results["templates"] == ["a photo of a person {}."] and results["model_type"] == "clip"
    assert results["example_prompt"] == "a photo of a person calling."
    assert json.loads((run / "config.json").read_text())["model_type"] == "clip"  # the default head stays stock
