"""Zero-shot classification from class-name prompts: the baseline (`--zero_shot`) and the text-initialised head.

    python fine_tune_har_clip.py --zero_shot --head zero_shot ...   # baseline row in the report, then fine-tune

Each class becomes a phrase ("listening_to_music" -> "listening to music") put into every template ("a photo of a
person {}."); per class, the normalised text embeddings of all templates are averaged and normalised again (the CLIP
paper's prompt ensembling). The classifier is `ZeroShotHeadForImageClassification` (zero_shot_head.py) with those
embeddings times the logit scale as weights: its logits equal the model's `logits_per_image` for the same prompts.
"""

import logging
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from . import io
from .choices import DEFAULT_TEMPLATES  # noqa: F401  (re-exported)
from .metrics import logits_of, predictions_table
from .trainer import HarTrainer
from .zero_shot_head import ZeroShotHeadConfig, ZeroShotHeadForImageClassification

logger = logging.getLogger(__name__)

RESULTS_FILE = "zero_shot_results.json"
PREDICTIONS_FILE = "zero_shot_predictions.csv"


def class_phrase(class_name: str) -> str:
    return " ".join(class_name.replace("_", " ").split())


def prompts(class_names: list[str], templates: tuple[str, ...] | list[str]) -> list[str]:
    """Class-major: all templates of class 0, then of class 1, ..."""
    bad = [t for t in templates if t.count("{}") != 1]
    if bad or not templates:
        raise ValueError(f"prompt templates need exactly one '{{}}' for the class name; got {bad or 'none'}")
    return [template.format(class_phrase(name)) for name in class_names for template in templates]


@torch.no_grad()
def class_embeddings(
    dual_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    class_names: list[str],
    templates: tuple[str, ...] | list[str],
    prompt_max_length: int | None,
) -> torch.Tensor:
    """(classes, embedding size) unit vectors: the mean of each class's normalised prompt embeddings, normalised."""
    padding = "max_length" if prompt_max_length else True
    texts = prompts(class_names, templates)
    inputs = tokenizer(texts, padding=padding, max_length=prompt_max_length, truncation=True, return_tensors="pt")
    dual_model.eval()
    device = next(dual_model.parameters()).device
    embeddings = dual_model.get_text_features(**inputs.to(device)).pooler_output.float()
    embeddings = F.normalize(embeddings, dim=-1).view(len(class_names), len(templates), -1).mean(dim=1)
    return F.normalize(embeddings, dim=-1)


@torch.no_grad()
def zero_shot_classifier(
    dual_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    class_names: list[str],
    templates: tuple[str, ...] | list[str],
    prompt_max_length: int | None,
) -> ZeroShotHeadForImageClassification:
    """The image side of `dual_model` with a head whose logits are the zero-shot logits for `class_names`."""
    projection = getattr(dual_model, "visual_projection", None)  # CLIP projects the pooled token; SigLIP does not
    config = ZeroShotHeadConfig(
        vision_config=dual_model.config.vision_config.to_dict(),
        projection_dim=projection.out_features if projection is not None else None,
        id2label=dict(enumerate(class_names)),
        label2id={name: i for i, name in enumerate(class_names)},
    )
    model = ZeroShotHeadForImageClassification(config)
    model.vision_model.load_state_dict(dual_model.vision_model.state_dict())
    if projection is not None:
        model.visual_projection.load_state_dict(projection.state_dict())
    text = class_embeddings(dual_model, tokenizer, class_names, templates, prompt_max_length)
    model.classifier.weight.copy_(dual_model.logit_scale.exp() * text)
    bias = getattr(dual_model, "logit_bias", None)  # SigLIP's sigmoid bias: the same for every class
    model.classifier.bias.copy_(bias.expand(len(class_names)) if bias is not None else torch.zeros(len(class_names)))
    return model


def write_baseline(
    trainer: Trainer,
    test_dataset,
    class_names: list[str],
    name_or_path: str,
    head: str,
    templates: tuple[str, ...] | list[str],
    model_type: str,
) -> None:
    """Score the zero-shot classifier on the test split, before any training, into zero_shot_results.json and
    zero_shot_predictions.csv (test_predictions.csv's format). Done once per run folder.

    With `--head zero_shot` the trainer's own model is that classifier until `train()` starts; otherwise it is
    built here and scored by a trainer with the same data path.
    """
    output_dir = Path(trainer.args.output_dir)
    if (output_dir / RESULTS_FILE).is_file():
        return
    evaluator = trainer
    if head != "zero_shot":
        from .models import load_classifier  # models imports this module

        model, _ = load_classifier(name_or_path, class_names, trainer.args.seed, "zero_shot", templates)
        evaluator = HarTrainer(
            model=model,
            args=trainer.args,
            eval_dataset=trainer.eval_dataset,
            data_collator=trainer.data_collator,
            compute_metrics=trainer.compute_metrics,
            device_transform=trainer.device_transform,
        )
    output = evaluator.predict(test_dataset, metric_key_prefix="test")
    if not trainer.args.should_save:
        return
    logits = logits_of(output.predictions)
    io.write_csv(
        output_dir / PREDICTIONS_FILE,
        predictions_table(test_dataset.ids, output.label_ids, np.asarray(logits), class_names),
    )
    results = {
        "model_type": model_type,
        "model_name_or_path": name_or_path,
        "templates": list(templates),
        "example_prompt": prompts(class_names[:1], templates[:1])[0],
        "num_test_samples": len(test_dataset),
        **{key: value for key, value in output.metrics.items() if key.startswith("test_")},
    }
    io.write_json(output_dir / RESULTS_FILE, results)
    logger.info(
        "zero-shot test accuracy %.4f, macro-F1 %.4f (%d templates)",
        results["test_accuracy"],
        results["test_macro_f1"],
        len(templates),
    )
