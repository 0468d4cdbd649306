"""A linear classifier on a CLIP / SigLIP / SigLIP 2 model's own normalised image embedding (`--head zero_shot`).

    from transformers import AutoModelForImageClassification
    model = AutoModelForImageClassification.from_pretrained(run_dir, trust_remote_code=True)

The image embedding is the one the model was pre-trained to match with text: CLIP's pooled CLS token through the
visual projection, SigLIP's attention-pooling head. Its classifier starts as the normalised class-prompt text
embeddings times the model's logit scale (plus SigLIP's logit bias), so before training the logits equal the
zero-shot classifier's `logits_per_image` (har_finetune/models/zero_shot.py builds it).

transformers has no stock class for this (its CLIP/SigLIP classifiers mean-pool tokens without projection or
normalisation), so `save_pretrained` copies this file into every run folder and names it in config.json's
`auto_map`. It must therefore import nothing but torch and transformers. It has its own `model_type`, so loading a
run without `trust_remote_code=True` fails loudly instead of silently building a stock classifier with a random
head. Importing this module from the package registers the classes with the Auto classes instead (no remote code).
"""

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

try:
    from transformers.configuration_utils import SubConfigSpec  # transformers >= 5.2x
except ImportError:  # transformers 5.17 (the GPU machine's image): each config converts its own sub-configs
    SubConfigSpec = None


class ZeroShotHeadConfig(PreTrainedConfig):
    """`vision_config`: the checkpoint's vision tower; `projection_dim`: CLIP's visual projection (None: none)."""

    model_type = "har_zero_shot_head"
    if SubConfigSpec is not None:
        sub_configs_defaults = {"vision_config": SubConfigSpec(AutoConfig, model_type="clip_vision_model")}
    else:
        sub_configs = {"vision_config": AutoConfig}

    vision_config: dict | PreTrainedConfig | None = None
    projection_dim: int | None = None
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if SubConfigSpec is None and not isinstance(self.vision_config, PreTrainedConfig):  # what 5.2x does for us
            vision = dict(self.vision_config or {})
            self.vision_config = CONFIG_MAPPING[vision.pop("model_type", "clip_vision_model")](**vision)
        super().__post_init__(**kwargs)


class ZeroShotHeadForImageClassification(PreTrainedModel):
    config_class = ZeroShotHeadConfig
    config: ZeroShotHeadConfig
    base_model_prefix = "har_zero_shot_head"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    # The loss is a per-batch mean: Trainer must scale it for gradient accumulation and DDP itself.
    accepts_loss_kwargs = False
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: ZeroShotHeadConfig):
        super().__init__(config)
        self.vision_model = AutoModel.from_config(config.vision_config)  # CLIPVisionModel, SiglipVisionModel, ...
        width = config.vision_config.hidden_size
        self.visual_projection = nn.Linear(width, config.projection_dim, bias=False) if config.projection_dim else None
        self.classifier = nn.Linear(config.projection_dim or width, config.num_labels)
        self.post_init()

    def get_image_embeddings(self, pixel_values: torch.Tensor, **vision_inputs) -> torch.Tensor:
        """Unit-length image embeddings, exactly as the pre-trained model's zero-shot logits use them."""
        pooled = self.vision_model(pixel_values=pixel_values, **vision_inputs).pooler_output
        if pooled is None:
            raise ValueError("the vision tower returned no pooled output: a SigLIP tower needs vision_use_head=True")
        if self.visual_projection is not None:
            pooled = self.visual_projection(pooled)
        return pooled / pooled.norm(p=2, dim=-1, keepdim=True)

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **vision_inputs
    ) -> ImageClassifierOutput:
        """`vision_inputs`: what the image processor adds for SigLIP 2 (`pixel_attention_mask`, `spatial_shapes`)."""
        vision_inputs.pop("return_dict", None)
        logits = self.classifier(self.get_image_embeddings(pixel_values, **vision_inputs))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


# save_pretrained copies this file into the folder and writes config.json's auto_map.
ZeroShotHeadConfig.register_for_auto_class()
ZeroShotHeadForImageClassification.register_for_auto_class("AutoModelForImageClassification")

if __name__.startswith("har_finetune."):  # imported from the package (not as a run folder's remote code):
    # Auto classes then load runs with this class, without trust_remote_code and without running the folder's copy.
    from transformers import AutoModelForImageClassification

    AutoConfig.register(ZeroShotHeadConfig.model_type, ZeroShotHeadConfig, exist_ok=True)
    AutoModelForImageClassification.register(ZeroShotHeadConfig, ZeroShotHeadForImageClassification, exist_ok=True)
