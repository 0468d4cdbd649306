"""Zero-shot classification from class-name prompts: the classifier behind the text-initialised head
(`--head zero_shot`) and the baseline (`--zero_shot`, run by zero_shot_baseline.py).

Each class becomes a phrase ("listening_to_music" -> "listening to music") put into every template ("a photo of a
person {}."); per class, the normalised text embeddings of all templates are averaged and normalised again (the CLIP
paper's prompt ensembling). The classifier is `ZeroShotHeadForImageClassification` (zero_shot_head.py) with those
embeddings times the logit scale as weights: its logits equal the model's `logits_per_image` for the same prompts.
"""

import torch
from torch.nn import functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from har_finetune.core.defaults import DEFAULT_TEMPLATES  # noqa: F401  (re-exported)
from har_finetune.models.zero_shot_head import ZeroShotHeadConfig, ZeroShotHeadForImageClassification


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
