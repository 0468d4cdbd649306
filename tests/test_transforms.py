"""Preprocessing: the fast path gives the checkpoint's image processor's pixels, and augmentation repeats exactly.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_transforms.py      # a few seconds
"""

import io
import pickle
import random

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    CLIPImageProcessor,
    CLIPImageProcessorPil,
    SiglipImageProcessor,
    SiglipImageProcessorPil,
)

from har_finetune.data.datasets import Collator, ImageClassificationDataset
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.data.synthetic import synthetic_image
from har_finetune.data.transforms import (
    DeviceTransform,
    ProcessorGeometry,
    RandomResizedCropFlip,
    eval_transform,
    train_geometry,
    train_storage,
    train_transform,
)

# Real-size processors from their defaults (224): CLIP resizes the shortest edge and centre-crops, SigLIP resizes
# to a square and maps to [-1, 1]. Odd sizes exercise rounding: odd crop margins, upscaling, extreme aspect ratios.
PROCESSORS = {
    "clip": (CLIPImageProcessor, CLIPImageProcessorPil),
    "siglip": (SiglipImageProcessor, SiglipImageProcessorPil),
}
SIZES = [(251, 183), (97, 301), (640, 480), (224, 224), (13, 500), (301, 299)]  # (width, height)


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _prep(processor) -> Preprocessing:
    return Preprocessing.from_processor(processor)


def _uint8(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


@pytest.mark.parametrize("family", PROCESSORS)
@pytest.mark.parametrize("size", SIZES)
def test_fast_eval_path_equals_the_image_processor(family, size):
    processor = PROCESSORS[family][0]()
    image = _noise(*size)  # noise: a one-pixel shift of the crop would show as a large difference
    expected = processor(image, return_tensors="pt")["pixel_values"]
    fast = DeviceTransform(processor)(ProcessorGeometry(processor)(_uint8(image))[None])  # cache + batch halves
    assert fast.shape == expected.shape == (1, 3, 224, 224)
    assert (fast - expected).abs().max() <= 1e-5
    assert (eval_transform(_prep(processor))(image) - expected[0]).abs().max() <= 1e-5  # the per-image path too


@pytest.mark.parametrize("family", PROCESSORS)
@pytest.mark.parametrize("size", SIZES)
def test_fast_eval_path_is_close_to_the_pil_backend_processor(family, size):
    """The PIL backend (transformers 4's default) resizes with Pillow: a few grey levels apart at most."""
    processor, pil_processor = PROCESSORS[family][0](), PROCESSORS[family][1]()
    image = synthetic_image(3, 15, random.Random(0), size)
    expected = pil_processor(image, return_tensors="pt")["pixel_values"]
    difference = (DeviceTransform(processor)(ProcessorGeometry(processor)(_uint8(image))[None]) - expected).abs()
    assert difference.mean() < 5e-3 and difference.max() < 0.1


def test_training_images_smaller_than_the_working_resolution_are_stored_untouched():
    processor = CLIPImageProcessor()
    storage = train_storage(processor)
    assert storage.max_short_edge == 256
    small, large = _uint8(_noise(251, 183)), _uint8(_noise(1000, 600))
    assert torch.equal(storage(small), small)
    assert storage(large).shape == (3, 256, 426)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # lossless: decoding gives back the same pixels
    return buffer.getvalue()


def test_cached_training_path_matches_the_per_image_path_bit_for_bit():
    """Same seed, epoch and index: uint8 crop in the worker + normalise on the device = the per-image transform."""
    processor = CLIPImageProcessor()
    images = {f"{i}.png": _noise(251, 183, i) for i in range(4)}
    ids = list(images)
    files = {name: _png(image) for name, image in images.items()}
    per_image = ImageClassificationDataset(
        files.__getitem__, ids, [0] * 4, train_transform(_prep(processor), "crop_flip"), 7
    )
    cached = ImageClassificationDataset(
        None, ids, [0] * 4, train_geometry(_prep(processor), "crop_flip"), 7, pixels=[_uint8(images[i]) for i in ids]
    )
    finish = DeviceTransform(processor, "crop_flip")
    for epoch in (0, 3):
        per_image.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(4):
            assert torch.equal(finish(cached[i]["pixel_values"][None])[0], per_image[i]["pixel_values"])
    first = cached[0]["pixel_values"]
    cached.set_epoch(4)
    assert not torch.equal(cached[0]["pixel_values"], first)  # a new epoch, new crops


def _policy_dataset(processor):
    pixels = [_uint8(_noise(251, 183, seed)) for seed in range(3)]
    return ImageClassificationDataset(
        None,
        ["a"] * 3,
        [0, 1, 2],
        train_geometry(_prep(processor), "randaugment", with_policy=False),
        seed=1,
        pixels=pixels,
        emit_seeds=True,
    )


def test_device_policy_is_seeded_per_image_and_repeats_exactly():
    processor = SiglipImageProcessor()
    dataset = _policy_dataset(processor)
    batch = Collator()([dataset[i] for i in range(3)])
    assert batch["pixel_values"].dtype == torch.uint8 and isinstance(batch["aug_seeds"], list)
    finish = DeviceTransform(processor, "randaugment")
    first, again = finish(batch["pixel_values"], batch["aug_seeds"]), finish(batch["pixel_values"], batch["aug_seeds"])
    assert torch.equal(first, again) and first.dtype == torch.float32
    alone = finish(batch["pixel_values"][1:2], batch["aug_seeds"][1:2])  # an image's result ignores its neighbours
    assert torch.equal(alone[0], first[1])
    plain = finish(batch["pixel_values"])  # no seeds (evaluation): no policy
    assert plain.min() >= -1 and plain.max() <= 1


def test_device_transform_passes_float_batches_through():
    batch = torch.rand(2, 3, 8, 8)
    assert DeviceTransform(CLIPImageProcessor(), "randaugment")(batch, [1, 2]) is batch


def test_persistent_loader_workers_see_the_new_epoch():
    processor = CLIPImageProcessor()
    pixels = [_uint8(_noise(251, 183, seed)) for seed in range(4)]
    dataset = ImageClassificationDataset(
        None, ["a"] * 4, [0] * 4, train_geometry(_prep(processor), "crop_flip"), 3, pixels=pixels
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=4, num_workers=1, persistent_workers=True, collate_fn=Collator()
    )
    seen = []
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        seen.append(next(iter(loader))["pixel_values"])
    dataset.set_epoch(1)
    in_process = Collator()([dataset[i] for i in range(4)])["pixel_values"]
    assert not torch.equal(seen[0], seen[1]) and torch.equal(seen[1], in_process)


def test_random_crop_parameters_follow_torchvision_and_stay_inside():
    crop = RandomResizedCropFlip((224, 224))
    torch.manual_seed(0)
    areas, flips = [], 0
    for _ in range(2000):
        top, left, height, width, flip = crop.params(183, 251)
        assert 0 <= top <= 183 - height and 0 <= left <= 251 - width
        assert 3 / 4 - 0.02 <= width / height <= 4 / 3 + 0.02
        areas.append(height * width / (183 * 251))
        flips += flip
    assert 0.24 < min(areas) and max(areas) <= 1 and 0.48 < np.mean(areas) < 0.54 and 900 < flips < 1100  # tv: 0.51
    assert crop.params(10, 1000)[2:4] == (10, 13)  # no valid try: a centre crop at the extreme ratio


def test_channels_last_pixels_normalise_to_the_same_values_and_keep_their_layout():
    """The cache's HWC layout reaches Normalize as channels-last: same floats as contiguous pixels, bit for bit,
    through more than one CPU block, and no transpose (models take channels-last input)."""
    processor = CLIPImageProcessor()
    contiguous = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (6, 3, 224, 224), dtype=np.uint8))
    channels_last = contiguous.contiguous(memory_format=torch.channels_last)
    expected = DeviceTransform(processor)(contiguous)
    floats = DeviceTransform(processor)(channels_last)
    assert floats.dtype == torch.float32 and floats.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(floats, expected)
    one_image = DeviceTransform(processor)(channels_last[2])  # the per-image path normalises CHW images
    assert torch.equal(one_image, expected[2])


def test_collated_crops_stay_channels_last_and_mirroring_before_resizing_is_exact():
    processor = CLIPImageProcessor()
    crop_flip = train_geometry(_prep(processor), "crop_flip")
    image = _uint8(_noise(251, 183, 5))  # channels-last, like the cache's images
    crops = [crop_flip(image, generator=torch.Generator().manual_seed(seed)) for seed in range(8)]
    batch = Collator()([{"pixel_values": crop, "labels": 0} for crop in crops])["pixel_values"]
    assert batch.is_contiguous(memory_format=torch.channels_last) and torch.equal(batch, torch.stack(crops))
    for seed, crop in enumerate(crops):  # the same crop resized without mirroring, then mirrored
        top, left, height, width, flip = crop_flip.params(183, 251, torch.Generator().manual_seed(seed))
        plain = torch.nn.functional.interpolate(
            image[None, :, top : top + height, left : left + width].float(), size=[224, 224], mode="bilinear"
        )
        assert (crop.float() - (plain.flip(-1) if flip else plain)[0]).abs().mean() < 2  # the right crop
        unflipped = image[None, :, top : top + height, left : left + width]
        resized = torch.nn.functional.interpolate(unflipped, size=[224, 224], mode="bilinear", antialias=True)[0]
        assert torch.equal(crop, resized.flip(-1) if flip else resized)


def test_preprocessing_is_a_frozen_value_read_once_from_the_processor():
    """The data layer takes this value, not the processor; NaFlex processors (no fixed size) build the batches."""
    from transformers import Siglip2ImageProcessor

    clip = _prep(CLIPImageProcessor())
    assert (clip.resize, clip.crop, clip.output_size, clip.has_fixed_size) == (224, (224, 224), (224, 224), True)
    assert clip.mean == (0.48145466, 0.4578275, 0.40821073) and clip.rescale == 1 / 255
    assert _prep(SiglipImageProcessor()).resize == (224, 224) and _prep(SiglipImageProcessor()).crop is None
    naflex = _prep(Siglip2ImageProcessor())
    assert naflex.processor_builds_batches and not naflex.has_fixed_size and naflex.naflex_side == 256
    raw = _prep(CLIPImageProcessor(do_normalize=False, do_rescale=False))
    assert (raw.mean, raw.std, raw.rescale) == ((0.0,) * 3, (1.0,) * 3, 1.0)
    with pytest.raises(AttributeError):
        clip.resize = 336  # frozen: one value for the whole run
    assert hash(clip) == hash(_prep(CLIPImageProcessor())) and pickle.loads(pickle.dumps(clip)) == clip
