"""An offline stand-in for HAR: a learnable image set with the 15 class names (models/tiny.py makes the models).

Smoke-test material, not HAR results: each class is a colour family with noise and a random distractor, so a tiny
model can learn it in seconds on a CPU.
"""

import colorsys
import random
from pathlib import Path

import numpy as np
from PIL import Image

from har_finetune.core.defaults import HAR_CLASSES

FOLDER_NAME = "synthetic_har"  # the demo's dataset folder; a report on it says it is a smoke test (reporting/answer.py)


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
