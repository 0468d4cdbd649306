"""Offline stand-ins for HAR and the real checkpoints: a learnable image set and tiny random models.

These are smoke-test material, not HAR results: each class is a colour family with noise and a random
distractor, so a tiny model can learn it in seconds on a CPU.
"""

import colorsys
import random
from pathlib import Path

import numpy as np
from PIL import Image
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    Siglip2Config,
    Siglip2ImageProcessor,
    Siglip2Model,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
)

from . import HAR_CLASSES

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


def make_tiny_checkpoint(model_type: str, out_dir: str | Path) -> Path:
    """Save a tiny random CLIP / SigLIP / SigLIP 2 checkpoint (both towers) with its image processor."""
    out_dir = Path(out_dir)
    text = dict(_TINY_TOWER, vocab_size=128, max_position_embeddings=16, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    vision = dict(_TINY_TOWER, image_size=TINY_IMAGE_SIZE, patch_size=8)
    size = TINY_IMAGE_SIZE
    if model_type == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    elif model_type == "siglip":
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        processor = SiglipImageProcessor(size={"height": size, "width": size})
    elif model_type == "siglip2":
        vision = dict(_TINY_TOWER, num_patches=16, patch_size=8)
        model = Siglip2Model(Siglip2Config(text_config=text, vision_config=vision))
        processor = Siglip2ImageProcessor(patch_size=8, max_num_patches=16)
    else:
        raise ValueError(f"unknown model_type {model_type!r}; expected clip, siglip or siglip2")
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
