"""The one place where CLIP, SigLIP and SigLIP 2 differ: a registry keyed by the checkpoint's `model_type`.

Two heads (`--head`): `default` is transformers' own classifier (mean-pooled tokens, random linear layer);
`zero_shot` classifies the model's normalised image embedding, starting from the class-prompt text embeddings
(zero_shot.py, zero_shot_head.py).
"""

import logging
import os
from dataclasses import dataclass

import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoTokenizer,
    BaseImageProcessor,
    CLIPForImageClassification,
    CLIPModel,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Siglip2ForImageClassification,
    Siglip2Model,
    SiglipForImageClassification,
    SiglipModel,
)

from har_finetune.core.defaults import DEFAULT_CHECKPOINTS, HEADS  # noqa: F401  (re-exported)
from har_finetune.core.errors import UserError
from har_finetune.core.hub import check_hub_reachable, is_offline, prefetch_hint
from har_finetune.core.local_paths import model_path_problem
from har_finetune.models.load_messages import log_load_info, quiet_loading
from har_finetune.models.zero_shot import DEFAULT_TEMPLATES, zero_shot_classifier
from har_finetune.run_folder.identity import model_revision

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFamily:
    model_type: str
    model_class: type[PreTrainedModel]
    # SigLIP 2 (NaFlex) feeds variable-size patch sequences: its image processor must build every batch.
    processor_builds_batches: bool = False
    # SigLIP's attention-pooling head is computed but unused by the default classifier (DDP: unused parameters);
    # the zero-shot head needs it: it is SigLIP's image embedding.
    drop_pooling_head: bool = False
    dual_model_class: type[PreTrainedModel] | None = None  # both towers: text prompts for the zero-shot head
    # SigLIP's text tower pools its last position and was trained on prompts padded to 64 tokens; CLIP pools its
    # end-of-text token, so padding to the longest prompt is exact.
    prompt_max_length: int | None = None


FAMILIES = {
    family.model_type: family
    for family in (
        ModelFamily("clip", CLIPForImageClassification, dual_model_class=CLIPModel),
        ModelFamily(
            "siglip",
            SiglipForImageClassification,
            drop_pooling_head=True,
            dual_model_class=SiglipModel,
            prompt_max_length=64,
        ),
        ModelFamily(
            "siglip2",
            Siglip2ForImageClassification,
            True,
            drop_pooling_head=True,
            dual_model_class=Siglip2Model,
            prompt_max_length=64,
        ),
    )
}


def load_config(name_or_path: str) -> PretrainedConfig:
    """Load a checkpoint's config with a one-line error when it cannot be found or fetched."""
    check_local_path(name_or_path)
    try:
        with quiet_loading():  # SigLIP's default text config fails its own token-id check (load_messages.py)
            return AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        if os.path.isdir(name_or_path):
            raise UserError(f"{name_or_path} is not a model folder (no readable config.json): {error}") from None
        raise UserError(
            f"cannot load model '{name_or_path}' ({not_found_why()}): " + prefetch_hint("model", name_or_path)
        ) from None


def not_found_why() -> str:
    """Where a model id was looked for: offline (HF_HUB_OFFLINE), the Hub was not asked."""
    if is_offline():
        return "not a local folder, and not in the local cache; HF_HUB_OFFLINE is set (offline): the Hub is not asked"
    return "not a local folder, not in the cache or on the Hub"


def check_local_path(name_or_path: str) -> None:
    """A local-looking name (core/local_paths.py) that is not a folder: "no such folder" or "a file", never Hub
    advice."""
    problem = model_path_problem(name_or_path)
    if problem:
        raise UserError(problem)


def family_of(config: PretrainedConfig, name_or_path: str) -> ModelFamily:
    """The registry entry for a config, or a one-line error listing the supported model types."""
    family = FAMILIES.get(config.model_type)
    if family is None:
        raise UserError(
            f"model '{name_or_path}' has model_type '{config.model_type}'; supported model types: "
            f"{', '.join(FAMILIES)} (CLIP, SigLIP, SigLIP 2 checkpoints)"
        )
    return family


def describe_model(name_or_path: str) -> dict[str, str]:
    """The model's part of a run's identity: its type and revision (the Hub commit of the cached snapshot, or for
    a local folder a fingerprint of its files)."""
    config = load_config(name_or_path)
    local = os.path.isdir(name_or_path)
    revision = model_revision(name_or_path) if local else getattr(config, "_commit_hash", None) or "unknown"
    return {"model_type": config.model_type, "model_revision": revision}


def load_image_processor(name_or_path: str) -> BaseImageProcessor:
    try:
        return AutoImageProcessor.from_pretrained(name_or_path)
    except (OSError, ValueError):
        raise UserError(
            f"cannot load the image processor of '{name_or_path}': {prefetch_hint('model', name_or_path)}"
        ) from None


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError, ImportError) as error:
        raise UserError(
            f"cannot load the tokenizer of '{name_or_path}' (needed for class-name prompts): {error}; "
            f"SigLIP's needs `pip install sentencepiece protobuf`; {prefetch_hint('model', name_or_path)}"
        ) from None


def load_classifier(
    name_or_path: str,
    class_names: list[str],
    seed: int,
    head: str = "default",
    templates: tuple[str, ...] | list[str] = DEFAULT_TEMPLATES,
) -> tuple[PreTrainedModel, ModelFamily]:
    """Vision tower + a head for `class_names`: a fresh seeded linear layer (`default`, runs repeat exactly) or the
    text-initialised zero-shot head (`zero_shot`)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    config = load_config(name_or_path)
    family = family_of(config, name_or_path)
    if head == "zero_shot":
        with quiet_loading():
            dual_model = family.dual_model_class.from_pretrained(name_or_path, dtype=torch.float32)
        tokenizer = load_tokenizer(name_or_path)
        return zero_shot_classifier(dual_model, tokenizer, class_names, templates, family.prompt_max_length), family
    config.num_labels = len(class_names)
    config.id2label = dict(enumerate(class_names))
    config.label2id = {name: index for index, name in enumerate(class_names)}
    if family.drop_pooling_head:
        config.vision_config.vision_use_head = False
    with quiet_loading():  # one line instead of transformers' ~30-line load report (load_messages.py)
        model, info = family.model_class.from_pretrained(
            name_or_path, config=config, dtype=torch.float32, output_loading_info=True
        )
    seed_new_head(model.classifier, seed)
    log_load_info(info, name_or_path, family.model_type)
    # Its forward takes **kwargs, so Trainer assumes the loss is normalised by `num_items_in_batch` and stops scaling
    # it, but the loss is a per-batch mean: without this, gradient accumulation and DDP multiply the loss (and, before
    # clipping, the gradients) by the accumulation steps and the number of processes (transformers 5.24).
    model.accepts_loss_kwargs = False
    return model, family


def seed_new_head(classifier: torch.nn.Linear, seed: int) -> None:
    """The new linear head from `seed` by a fixed recipe (weights normal with std 1/sqrt(width), as transformers
    5.x draws CLIP's and SigLIP's, bias 0) on a generator of its own: the same head for a seed on every library
    version, whatever order the library initialises modules in."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weight = torch.randn(classifier.weight.shape, generator=generator) * classifier.in_features**-0.5
        classifier.weight.copy_(weight)
        classifier.bias.zero_()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def check_model(name_or_path: str) -> None:
    """Fail before the (long) data scan when the model cannot be loaded or is of an unsupported type."""
    check_local_path(name_or_path)
    if not os.path.isdir(name_or_path):
        check_hub_reachable("model", name_or_path)
    family_of(load_config(name_or_path), name_or_path)
