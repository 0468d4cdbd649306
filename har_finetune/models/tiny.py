"""Tiny random CLIP, SigLIP and SigLIP 2 checkpoints, saved like the Hub's: the demo's and the tests' models.

They learn data/synthetic.py's images in seconds on a CPU; their numbers say the pipeline works, nothing about HAR.
Their weights are drawn by `fixed_weights` (numpy, one generator per tensor seeded by its name), not by the
library's random initialisation, which changes between transformers versions: the same checkpoint, hence the same
demo figures, on every install our version ranges allow (tests/test_first_hour.py compares a checksum).
"""

import hashlib
import io
import math
import zlib
from pathlib import Path

import numpy as np
import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPTokenizer,
    PreTrainedTokenizerBase,
    Siglip2Config,
    Siglip2ImageProcessor,
    Siglip2Model,
    Siglip2Tokenizer,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
)

from har_finetune.core.defaults import HAR_CLASSES
from har_finetune.models.load_messages import quiet_loading
from har_finetune.models.zero_shot import DEFAULT_TEMPLATES, prompts

TINY_IMAGE_SIZE = 32
_TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def prompt_corpus(classes: tuple[str, ...] = HAR_CLASSES) -> list[str]:
    """Every default zero-shot prompt of every class: what a tiny tokenizer must cover."""
    return prompts(list(classes), DEFAULT_TEMPLATES)


def make_tiny_tokenizer(model_type: str, out_dir: Path) -> PreTrainedTokenizerBase:
    """A tokenizer of the checkpoint's own class, with a small vocabulary learnt offline from `prompt_corpus()`.

    CLIP and SigLIP 2 tokenizers are `tokenizers` BPE models (retrained with `train_new_from_iterator`, which keeps
    each class's normaliser, pre-tokeniser and special tokens); SigLIP's is a SentencePiece model.
    """
    corpus = prompt_corpus()
    if model_type == "clip":
        return CLIPTokenizer().train_new_from_iterator([corpus], vocab_size=320)  # 256 byte symbols + merges
    if model_type == "siglip2":
        return Siglip2Tokenizer().train_new_from_iterator([corpus], vocab_size=100)
    import sentencepiece
    from transformers import SiglipTokenizer

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=100,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "spiece.model").write_bytes(model.getvalue())
    return SiglipTokenizer(str(out_dir / "spiece.model"))


def make_tiny_checkpoint(model_type: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny CLIP / SigLIP / SigLIP 2 checkpoint (both towers, weights by `fixed_weights(seed)`), image
    processor and tokenizer.

    The text tower's vocabulary and special-token ids match the tokenizer; prompts are padded up to 64 tokens for
    SigLIP (models.FAMILIES), hence 64 positions.
    """
    if model_type not in ("clip", "siglip", "siglip2"):
        raise ValueError(f"unknown model_type {model_type!r}; expected clip, siglip or siglip2")
    out_dir = Path(out_dir)
    tokenizer = make_tiny_tokenizer(model_type, out_dir)
    eos = tokenizer.eos_token_id
    text = dict(
        _TINY_TOWER,
        vocab_size=len(tokenizer),
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos,
        eos_token_id=eos,
    )
    with quiet_loading():  # transformers' default SigLIP text config fails its own token-id check (load_messages.py)
        model, processor = _tiny_model_and_processor(model_type, text)
    model.load_state_dict(fixed_weights(model.state_dict(), seed))
    with quiet_loading():
        model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _tiny_model_and_processor(model_type: str, text: dict):
    vision = dict(_TINY_TOWER, image_size=TINY_IMAGE_SIZE, patch_size=8)
    size = TINY_IMAGE_SIZE
    if model_type == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
        return model, CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    if model_type == "siglip":
        return SiglipModel(SiglipConfig(text_config=text, vision_config=vision)), SiglipImageProcessor(
            size={"height": size, "width": size}
        )
    vision = dict(_TINY_TOWER, num_patches=16, patch_size=8)
    model = Siglip2Model(Siglip2Config(text_config=text, vision_config=vision))
    return model, Siglip2ImageProcessor(patch_size=8, max_num_patches=16)


# Not drawn: CLIP's temperature as CLIP initialises it (1 / 0.07); SigLIP's scale and bias nearer a trained model's
# (real SigLIP: ~117 and ~-13; a random init leaves 1 and 0, and zero-shot logits all near 0).
CLIP_LOGIT_SCALE = math.log(1 / 0.07)
SIGLIP_LOGIT_SCALE, SIGLIP_LOGIT_BIAS = math.log(10.0), -5.0


def fixed_weights(state_dict: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Every floating tensor of `state_dict` by a fixed recipe: norm weights 1, biases 0, the logit scale and bias
    as above, anything else normal with std 1/sqrt(fan-in) from a numpy generator seeded by (seed, the tensor's
    name), so a tensor's values depend on nothing but its name and shape (not on the others, nor their order)."""
    siglip = "logit_bias" in state_dict
    fixed = {}
    for name, tensor in state_dict.items():
        if not tensor.is_floating_point():
            fixed[name] = tensor
            continue
        leaf = name.rsplit(".", 1)[-1]
        if name == "logit_scale":
            value = np.full(tuple(tensor.shape), SIGLIP_LOGIT_SCALE if siglip else CLIP_LOGIT_SCALE)
        elif name == "logit_bias":
            value = np.full(tuple(tensor.shape), SIGLIP_LOGIT_BIAS)
        elif "bias" in leaf:
            value = np.zeros(tuple(tensor.shape))
        elif tensor.dim() == 1 and "norm" in name:
            value = np.ones(tuple(tensor.shape))
        else:
            fan_in = math.prod(tensor.shape[1:]) if tensor.dim() > 1 else tensor.numel()
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            value = rng.normal(0.0, fan_in**-0.5, tuple(tensor.shape))
        fixed[name] = torch.from_numpy(value.astype(np.float32))
    return fixed


def weights_checksum(checkpoint: str | Path) -> str:
    """SHA-256 over a checkpoint's tensors (name, shape, float32 bytes, by name): equal means the same weights,
    whatever library wrote the file."""
    from safetensors.numpy import load_file

    tensors = load_file(str(Path(checkpoint) / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = (
            np.ascontiguousarray(tensors[name], dtype=np.float32) if tensors[name].dtype.kind == "f" else tensors[name]
        )
        digest.update(f"{name}{value.shape}".encode() + value.tobytes())
    return digest.hexdigest()
