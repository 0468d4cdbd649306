"""What the benchmarks share: generated HAR-sized JPEGs, the stock per-image recipe, checkpoints built from configs.

Nothing here downloads: images are generated, models get random weights from configurations written out in
benchmarks/configs/ (the real ones' shapes) or tiny ones made in code.
"""

import importlib.util
import json
import multiprocessing
import os
import platform
import random
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, CLIPConfig, CLIPImageProcessor, CLIPModel

from har_finetune.data.synthetic import synthetic_image

CONFIGS = Path(__file__).resolve().parent / "configs"
# The real checkpoints' architectures (config.json + preprocessor_config.json each), by family
REAL_CONFIGS = {"clip": CONFIGS / "clip-vit-base-patch16", "siglip": CONFIGS / "siglip-base-patch16-224"}


def _write_jpeg(job: tuple[Path, int, int, int, tuple[int, int]]) -> None:
    path, label, num_classes, seed, size = job
    synthetic_image(label, num_classes, random.Random(seed), size).save(path, quality=90)


def har_sized_jpegs(
    folder: Path, count: int, seed: int = 0, classes: tuple[str, ...] = (), processes: int = 1
) -> list[str]:
    """`count` JPEGs of about 250x180 px (the HAR photos' size), class-coloured; ids relative to `folder`.

    `classes` given: a folder per class (`<class>/<i>.jpg`, classes in turn). The same images for any `processes`
    (each image has its own seed); several processes are forked, so call it before torch runs any thread pool."""
    rng, jobs = random.Random(seed), []
    for i in range(count):
        label = i % max(len(classes), 1)
        name = f"{classes[label]}/{i:05d}.jpg" if classes else f"{i:05d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        size = (rng.randrange(230, 281), rng.randrange(165, 201))
        jobs.append((folder / name, label, max(len(classes), 15), rng.randrange(2**32), size))
    if processes > 1 and count >= 256:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(_write_jpeg, jobs, chunksize=64)
    else:
        for job in jobs:
            _write_jpeg(job)
    return [str(job[0].relative_to(folder)) for job in jobs]


def stack_batch(examples: list[dict]) -> dict:
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in examples])}
    return {**batch, "labels": torch.tensor([e["labels"] for e in examples])} if "labels" in examples[0] else batch


class PerImageProcessorDataset(torch.utils.data.Dataset):
    """The stock recipe's data path, as `datasets.Dataset.set_transform` runs it: each item opens the file with
    Pillow and calls the image processor on that one PIL image (what an `Image` column + `set_transform` does,
    without needing `datasets`, which the GPU machine lacks)."""

    def __init__(self, folder: Path, ids: list[str], processor, labels: list[int] | None = None):
        self.paths, self.processor, self.labels = [Path(folder) / i for i in ids], processor, labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        with Image.open(self.paths[index]) as image:
            pixels = self.processor(image.convert("RGB"), return_tensors="pt")["pixel_values"][0]
        return (
            {"pixel_values": pixels} if self.labels is None else {"pixel_values": pixels, "labels": self.labels[index]}
        )


def tiny_clip_224(folder: Path) -> Path:
    """A tiny random CLIP that reads 224 px images (patch 32: 49 tokens), so that a run is about the data path."""
    tower = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    text = dict(tower, vocab_size=128, max_position_embeddings=16, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    vision = dict(tower, image_size=224, patch_size=32)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


def model_config(family: str, tiny: bool = False):
    """The real checkpoint's configuration (benchmarks/configs/), or with `tiny` the same one shrunk to a 16-wide,
    2-layer model of the same family and input size (CPU dry runs)."""
    config = json.loads((REAL_CONFIGS[family] / "config.json").read_text())
    config.pop("_comment")
    if tiny:
        shrink = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
        config["text_config"].update(shrink, vocab_size=128, max_position_embeddings=64, pad_token_id=1)
        config["text_config"].update(bos_token_id=0, eos_token_id=2)
        config["vision_config"].update(shrink, patch_size=32)
        config["projection_dim"] = 16
    return AutoConfig.for_model(**config)


def random_checkpoint(family: str, folder: Path, tiny: bool = False) -> Path:
    """Save a random-weight checkpoint (both towers, as on the Hub) and its image processor: what `train.main`
    loads as `--model_name_or_path`."""
    from transformers import AutoModel

    torch.manual_seed(0)
    AutoModel.from_config(model_config(family, tiny)).save_pretrained(folder)
    AutoImageProcessor.from_pretrained(REAL_CONFIGS[family]).save_pretrained(folder)
    return folder


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({len(os.sched_getaffinity(0))} cores, {torch.get_num_threads()} torch threads)"


def versions() -> str:
    """Python and the libraries that set the figures, on one line ("absent" for an uninstalled one)."""

    def of(name: str) -> str:
        try:  # an importable module, not only its metadata (a test blocks `datasets` to act like the GPU machine)
            return version(name) if importlib.util.find_spec({"pillow": "PIL"}.get(name, name)) else "absent"
        except (PackageNotFoundError, ValueError):
            return "absent"

    names = ("torch", "torchvision", "transformers", "accelerate", "pillow", "numpy", "datasets")
    cuda = f", CUDA {torch.version.cuda}" if torch.cuda.is_available() else ""
    return f"Python {platform.python_version()}, " + ", ".join(f"{n} {of(n)}" for n in names) + cuda


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
