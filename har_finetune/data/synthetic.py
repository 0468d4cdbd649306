"""An offline stand-in for HAR: a learnable image set with the 15 class names (models/tiny.py makes the models).

Smoke-test material, not HAR results: each class is a colour family with noise and a random distractor, so a tiny
model can learn it in seconds on a CPU.
"""

import colorsys
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from har_finetune.core.defaults import HAR_CLASSES

FOLDER_NAME = "synthetic_har"  # the demo's dataset folder; a report on it says it is a smoke test (reporting/answer.py)


def synthetic_image(class_index: int, num_classes: int, rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """An image whose colour family encodes the class; noise, a random rectangle and a smooth random shading make
    it non-trivial. The shading gives each image its own layout, as photos have: without it every image of the set
    is a flat colour with one rectangle, and a perceptual hash (which ignores colour) sees most of them as near
    copies of one another (data/near_duplicates.py)."""
    red, green, blue = colorsys.hsv_to_rgb(class_index / num_classes, 0.9, 0.9)
    width, height = size
    base = np.array([red, green, blue]) * 255
    draws = np.random.default_rng(rng.randrange(2**32))
    noise = draws.normal(0, 25, (height, width, 3))
    coarse = Image.fromarray(draws.uniform(0, 255, (6, 6)).astype(np.uint8)).resize(size, Image.BICUBIC)
    shading = (np.asarray(coarse, dtype=np.float64)[:, :, None] - 127.5) * 0.8
    pixels = np.clip(base + noise + shading, 0, 255).astype(np.uint8)
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


def distinct_scene(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A photo-like stand-in whose layout is drawn independently of every other: a smooth random colour field
    (4x4 random colours, bicubic) and six shapes of random colour, place and size, with sensor noise. Two scenes
    share no structure, so a perceptual hash sees them as unrelated (tests/test_near_duplicates.py checks that their
    grey images are uncorrelated, independently of any hash)."""
    width, height = size
    image = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(width // 8, width // 2)), y0 + int(rng.integers(height // 8, height // 2)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    noise = rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))


NEAR_COPY_KINDS = ("jpeg", "resized", "cropped", "watermarked")


def near_copy(image: Image.Image, kind: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """(`image` copied the way photo collections copy it, the JPEG quality to save it at): re-encoded at quality
    50-70, resized by 80-120%, cropped by up to 5% on one edge, or with a small text watermark."""
    width, height = image.size
    if kind == "jpeg":
        return image, int(rng.integers(50, 71))
    if kind == "resized":
        scale = rng.uniform(0.8, 1.2)
        return image.resize((round(width * scale), round(height * scale)), Image.LANCZOS), 90
    if kind == "cropped":
        cut = float(rng.uniform(0.01, 0.05))
        edge = int(rng.integers(4))
        box = [0, 0, width, height]
        box[edge] += round((width if edge % 2 == 0 else height) * cut) * (1 if edge < 2 else -1)
        return image.crop(tuple(box)), 90
    if kind == "watermarked":
        marked = image.copy()
        draw = ImageDraw.Draw(marked)
        draw.text((width * 0.55, height * 0.88), "(c) photo 2019", fill=(255, 255, 255))
        return marked, 90
    raise ValueError(f"unknown kind of near copy {kind!r}; one of {NEAR_COPY_KINDS}")
