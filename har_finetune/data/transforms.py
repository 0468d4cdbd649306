"""Transforms built from the checkpoint's image processor: size, crop, interpolation, mean and std.

Evaluation reproduces the processor (CLIP: resize the shortest edge, centre crop; SigLIP: square resize,
values in [-1, 1]). Training replaces resize+crop by a random resized crop (and flip, and optionally a
RandAugment / TrivialAugment policy). SigLIP 2 (NaFlex) patchifies in its processor, so for it we only
augment geometry here and let the processor build each batch.
"""

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode, v2
from transformers import BaseImageProcessor

AUGMENTATIONS = ("none", "crop_flip", "randaugment", "trivialaugment")
CROP_SCALE = (0.25, 1.0)  # milder than torchvision's (0.08, 1): 6 epochs of fine-tuning, not training from scratch

_INTERPOLATION = {0: InterpolationMode.NEAREST, 1: InterpolationMode.LANCZOS, 2: InterpolationMode.BILINEAR,
                  3: InterpolationMode.BICUBIC}


def _interpolation(processor: BaseImageProcessor) -> InterpolationMode:
    resample = getattr(processor, "resample", 3)
    if isinstance(resample, InterpolationMode):
        return resample
    return _INTERPOLATION.get(int(resample), InterpolationMode.BICUBIC)


def processor_geometry(processor: BaseImageProcessor) -> tuple[int | tuple[int, int], tuple[int, int] | None]:
    """(resize target, centre-crop size or None), as the processor would apply them."""
    size = processor.size
    if getattr(size, "shortest_edge", None):
        resize = size.shortest_edge
    else:
        resize = (size.height, size.width)
    crop = None
    if getattr(processor, "do_center_crop", False) and processor.crop_size:
        crop = (processor.crop_size.height, processor.crop_size.width)
    return resize, crop


def output_size(processor: BaseImageProcessor) -> tuple[int, int]:
    resize, crop = processor_geometry(processor)
    return crop or (resize if isinstance(resize, tuple) else (resize, resize))


def _normalize(processor: BaseImageProcessor) -> list:
    steps = [v2.ToDtype(torch.float32, scale=getattr(processor, "do_rescale", True))]
    if getattr(processor, "do_normalize", True):
        steps.append(v2.Normalize(list(processor.image_mean), list(processor.image_std)))
    return steps


def _policy(augmentation: str) -> list:
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {augmentation!r}; choose one of {', '.join(AUGMENTATIONS)}")
    return {"randaugment": [v2.RandAugment()], "trivialaugment": [v2.TrivialAugmentWide()]}.get(augmentation, [])


def eval_transform(processor: BaseImageProcessor, processor_builds_batches: bool = False):
    """Deterministic PIL -> tensor transform equal to the processor's own preprocessing."""
    if processor_builds_batches:
        return lambda image: image
    resize, crop = processor_geometry(processor)
    steps = [v2.PILToTensor(), v2.Resize(resize, interpolation=_interpolation(processor), antialias=True)]
    if crop:
        steps.append(v2.CenterCrop(crop))
    return v2.Compose(steps + _normalize(processor))


def train_transform(processor: BaseImageProcessor, augmentation: str, processor_builds_batches: bool = False):
    """Random PIL -> tensor transform (or PIL -> PIL for processors that build batches)."""
    if augmentation == "none":
        return eval_transform(processor, processor_builds_batches)
    if processor_builds_batches:
        side = processor.patch_size * int(processor.max_num_patches**0.5)
        size = (side, side)
    else:
        size = output_size(processor)
    steps = [v2.RandomResizedCrop(size, scale=CROP_SCALE, interpolation=_interpolation(processor), antialias=True),
             v2.RandomHorizontalFlip()] + _policy(augmentation)
    if processor_builds_batches:
        return v2.Compose(steps)  # PIL in, PIL out
    return v2.Compose([v2.PILToTensor()] + steps + _normalize(processor))


def as_pil(image) -> Image.Image:
    return image if isinstance(image, Image.Image) else v2.functional.to_pil_image(image)
