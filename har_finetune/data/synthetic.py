"""Offline stand-ins for HAR and the real checkpoints: a learnable image set and tiny random models.

These are smoke-test material, not HAR results: each class is a colour family with noise and a random
distractor, so a tiny model can learn it in seconds on a CPU.
"""

import colorsys
import io
import math
import random
from pathlib import Path

import numpy as np
from PIL import Image
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
    set_seed,
)

from har_finetune import HAR_CLASSES
from har_finetune.models.zero_shot import DEFAULT_TEMPLATES, prompts

TINY_IMAGE_SIZE = 32
_TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def synthetic_image(class_index: int, num_classes: int, rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """An image whose colour family encodes the class; noise and a random rectangle make it non-trivial."""
    red, green, blue = colorsys.hsv_to_rgb(class_index / num_classes, 0.9, 0.9)
    width, height = size
    base = np.array([red, green, blue]) * 255
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 25, (height, width, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    x0, y0 = rng.randrange(width // 2), rng.randrange(height // 2)
    pixels[y0 : y0 + height // 3, x0 : x0 + width // 3] = [rng.randrange(256) for _ in range(3)]
    return Image.fromarray(pixels)


def make_synthetic_har(
    root: str | Path,
    images_per_class: int = 40,
    classes: tuple[str, ...] = HAR_CLASSES,
    duplicates: int = 3,
    seed: int = 0,
) -> Path:
    """Write a folder-per-class tree `root/train/<class>/*.jpg` (HAR class names, varied sizes).

    `duplicates` extra files are exact byte copies of existing images, to exercise de-duplication.
    """
    rng = random.Random(seed)
    root = Path(root)
    written = []
    for class_index, name in enumerate(classes):
        folder = root / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(images_per_class):
            size = (rng.randrange(40, 97), rng.randrange(40, 97))
            path = folder / f"{name}_{i:04d}.jpg"
            synthetic_image(class_index, len(classes), rng, size).save(path, quality=95)
            written.append(path)
    for i, source in enumerate(rng.sample(written, duplicates)):
        (source.parent / f"copy_{i}_{source.name}").write_bytes(source.read_bytes())
    return root


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
    """Save a tiny random (seeded) CLIP / SigLIP / SigLIP 2 checkpoint (both towers), image processor, tokenizer.

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
    vision = dict(_TINY_TOWER, image_size=TINY_IMAGE_SIZE, patch_size=8)
    size = TINY_IMAGE_SIZE
    set_seed(seed)  # the same random weights every time: demo and test results repeat
    if model_type == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    elif model_type == "siglip":
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        processor = SiglipImageProcessor(size={"height": size, "width": size})
    else:
        vision = dict(_TINY_TOWER, num_patches=16, patch_size=8)
        model = Siglip2Model(Siglip2Config(text_config=text, vision_config=vision))
        processor = Siglip2ImageProcessor(patch_size=8, max_num_patches=16)
    if hasattr(model, "logit_bias"):  # random init leaves scale 1 and bias 0; real SigLIP: ~117 and ~-13
        model.logit_scale.data.fill_(math.log(10.0))
        model.logit_bias.data.fill_(-5.0)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
