"""The one place where CLIP, SigLIP and SigLIP 2 differ: a registry keyed by the checkpoint's `model_type`."""

import logging
import os
from dataclasses import dataclass

import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    BaseImageProcessor,
    CLIPForImageClassification,
    PretrainedConfig,
    PreTrainedModel,
    Siglip2ForImageClassification,
    SiglipForImageClassification,
)

from .errors import UserError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFamily:
    model_type: str
    display_name: str
    model_class: type[PreTrainedModel]
    # SigLIP 2 (NaFlex) feeds variable-size patch sequences: its image processor must build every batch.
    processor_builds_batches: bool = False
    # SigLIP's attention-pooling head is computed but unused by the classifier (DDP: unused parameters).
    drop_pooling_head: bool = False


FAMILIES = {
    family.model_type: family
    for family in (
        ModelFamily("clip", "CLIP", CLIPForImageClassification),
        ModelFamily("siglip", "SigLIP", SiglipForImageClassification, drop_pooling_head=True),
        ModelFamily("siglip2", "SigLIP 2", Siglip2ForImageClassification, True, drop_pooling_head=True),
    )
}

DEFAULT_CHECKPOINTS = {"clip": "openai/clip-vit-base-patch16", "siglip": "google/siglip-base-patch16-224"}

OFFLINE_HINT = (
    "fetch it on a login node with internet (`python -m har_finetune.prefetch --model NAME`) "
    "or pass a local folder; on compute nodes set HF_HUB_OFFLINE=1"
)


def load_config(name_or_path: str) -> PretrainedConfig:
    """Load a checkpoint's config with a one-line error when it cannot be found or fetched."""
    try:
        return AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        if os.path.isdir(name_or_path):
            raise UserError(f"{name_or_path} is not a model folder (no readable config.json): {error}") from None
        raise UserError(f"cannot load model '{name_or_path}' (not a local folder, not reachable on the Hub): "
                        f"{OFFLINE_HINT}") from None


def family_of(config: PretrainedConfig, name_or_path: str) -> ModelFamily:
    """The registry entry for a config, or a one-line error listing the supported model types."""
    family = FAMILIES.get(config.model_type)
    if family is None:
        raise UserError(f"model '{name_or_path}' has model_type '{config.model_type}'; supported model types: "
                        f"{', '.join(FAMILIES)} (CLIP, SigLIP, SigLIP 2 checkpoints)")
    return family


def load_image_processor(name_or_path: str) -> BaseImageProcessor:
    try:
        return AutoImageProcessor.from_pretrained(name_or_path)
    except (OSError, ValueError):
        raise UserError(f"cannot load the image processor of '{name_or_path}': {OFFLINE_HINT}") from None


def load_classifier(name_or_path: str, class_names: list[str], seed: int) -> tuple[PreTrainedModel, ModelFamily]:
    """Vision tower + a fresh linear head for `class_names`; the head is seeded so runs repeat exactly."""
    config = load_config(name_or_path)
    family = family_of(config, name_or_path)
    config.num_labels = len(class_names)
    config.id2label = dict(enumerate(class_names))
    config.label2id = {name: index for index, name in enumerate(class_names)}
    if family.drop_pooling_head:
        config.vision_config.vision_use_head = False
    torch.manual_seed(seed)  # the head is created inside from_pretrained
    model = family.model_class.from_pretrained(name_or_path, config=config)
    return model, family


def count_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
