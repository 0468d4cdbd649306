"""Torch datasets and the collator that Trainer consumes, and `build_dataset`, which picks the pixel path.

Fast path (CLIP, SigLIP; default): pixels come from the decoded uint8 cache (cache.py); loader workers crop and
flip uint8 images; batches stay uint8 until `DeviceTransform` normalises them where the model runs (on a GPU
it also applies a RandAugment / TrivialAugment policy there, per image). Per-image path (SigLIP 2, whose
processor builds batches, or --no_pixel_cache): decode every image in every epoch, normalise in the worker.
"""

from pathlib import Path

import torch
from transformers import BaseImageProcessor, TrainerCallback

from har_finetune.data.cache import PixelStore, ScanRecorder, open_store, scan_record_file
from har_finetune.data.images import decode_rgb
from har_finetune.data.preprocessing import Preprocessing, preprocessing_of
from har_finetune.data.scan import scan_dataset
from har_finetune.data.transforms import (
    POLICIES,
    ProcessorGeometry,
    eval_transform,
    train_geometry,
    train_storage,
    train_transform,
)

POLICY_SEED_OFFSET = 1  # the device policy draws from its own stream, not the crop's


class ImageClassificationDataset(torch.utils.data.Dataset):
    """Image `ids` through `transform`: decoded from `reader`, or taken from `pixels` (a uint8 cache) if given.

    Random augmentation is seeded from (seed, epoch, index), not from a global generator, so that a run resumed
    mid-epoch sees exactly the images an uninterrupted run would. The epoch lives in shared memory, so
    persistent loader workers see `set_epoch` (called by `EpochSetter` before each epoch's iterator starts).
    With `emit_seeds`, items carry the seed of the policy that `DeviceTransform` applies on the device.
    """

    def __init__(
        self,
        reader,
        ids: list[str],
        label_ids: list[int],
        transform,
        seed: int = 0,
        pixels=None,
        emit_seeds: bool = False,
    ):
        self.reader, self.ids, self.label_ids, self.transform, self.seed = reader, ids, label_ids, transform, seed
        self.pixels, self.emit_seeds = pixels, emit_seeds
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        image = self.pixels[index] if self.pixels is not None else decode_rgb(self.reader(self.ids[index]))
        seed = hash((self.seed, self.epoch, index)) & 0x7FFF_FFFF_FFFF_FFFF
        if self.transform is not None:
            image = self._transform(image, seed)
        item = {"pixel_values": image, "labels": self.label_ids[index]}
        if self.emit_seeds:
            item["aug_seeds"] = (seed + POLICY_SEED_OFFSET) & 0x7FFF_FFFF_FFFF_FFFF
        return item

    def _transform(self, image, seed: int):
        if getattr(self.transform, "takes_generator", False):  # its own generator: 3 us, not fork_rng's 20
            generator = torch.Generator()
            generator.manual_seed(seed)
            return self.transform(image, generator=generator)
        with torch.random.fork_rng(devices=[]):  # v2 transforms draw from the global generator
            torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed also queues CUDA seeding,
            return self.transform(image)  # with a stack trace per call (~4 ms) where CUDA is not initialised


def scan_recorder(
    cache_dir: str | Path | None, preprocessing: Preprocessing, cache_resolution: int | None
) -> ScanRecorder | None:
    """A hook for the scan that fills the pixel store with what it decodes; None when the cache is off (`cache_dir`
    None) or the processor has no fixed size (SigLIP 2 NaFlex)."""
    if cache_dir is None or not preprocessing.has_fixed_size:
        return None
    return ScanRecorder(cache_dir, train_storage(preprocessing, cache_resolution))


def scan_source(source, cache_dir: str | Path | None, recorder: ScanRecorder | None) -> list:
    """The input scan of `source` (data/scan.py), reusing the recorded scan kept in `cache_dir` (None: decode all)."""
    record_file = scan_record_file(cache_dir, source_name(source)) if cache_dir is not None else None
    return scan_dataset(source.reader, source.ids, record_file, recorder)


def source_name(source) -> str:
    """A dataset's name in the cache: its resolved folder, or its Hub id."""
    return str(Path(source.root).resolve()) if Path(source.root).exists() else source.root


def pixel_store(
    source,
    scans: list,
    preprocessing: Preprocessing,
    cache_dir: str | Path | None,
    cache_resolution: int | None,
    recorder: ScanRecorder | None = None,
    needed: bool = True,
) -> PixelStore | None:
    """The pixel store of `source`'s readable images (None when the cache is off or the model does not use it;
    what a recorder holds is kept for later runs all the same)."""
    if cache_dir is None or not (needed or recorder):
        return None
    readable = [(image_id, scan.content_hash) for image_id, scan in zip(source.ids, scans) if scan.ok]
    store = open_store(
        source.reader,
        [i for i, _ in readable],
        [h for _, h in readable],
        train_storage(preprocessing, cache_resolution),
        cache_dir,
        source_name(source),
        recorder,
    )
    return store if needed else None


def build_dataset(
    reader,
    ids: list[str],
    label_ids: list[int],
    preprocessing: Preprocessing,
    *,
    train: bool,
    augmentation: str,
    seed: int,
    store: PixelStore | None = None,
    policy_on_device: bool = False,
) -> ImageClassificationDataset:
    """One split's dataset. With a pixel `store` (cache.open_store) the fast uint8 path, whose batches must then
    go through `DeviceTransform`; `policy_on_device`: leave the augmentation policy to `DeviceTransform` (on a
    GPU) instead of the loader workers. (`preprocessing` may be an image processor: benchmarks/bench.py's call.)"""
    preprocessing, labels = preprocessing_of(preprocessing), (reader, ids, label_ids)
    if preprocessing.processor_builds_batches or store is None:
        transform = train_transform(preprocessing, augmentation) if train else eval_transform(preprocessing)
        return ImageClassificationDataset(*labels, transform, seed)
    if train and augmentation != "none":
        transform = train_geometry(preprocessing, augmentation, with_policy=not policy_on_device)
        emit_seeds = policy_on_device and augmentation in POLICIES
        return ImageClassificationDataset(*labels, transform, seed, store.training(ids), emit_seeds)
    return ImageClassificationDataset(*labels, None, seed, store.evaluation(ids, ProcessorGeometry(preprocessing)))


class EpochSetter(TrainerCallback):
    """Tells the training dataset which epoch starts (Trainer only does so for some samplers)."""

    def __init__(self, dataset: ImageClassificationDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch + 1e-6))


class Collator:
    """Stacks tensors (uint8 or float); for SigLIP 2 the image processor builds the batch (patches, mask, shapes):
    the one place in the data layer that takes the processor object rather than `Preprocessing`.

    Policy seeds stay a Python list: Trainer moves tensors to the GPU, and reading them back would stall it.
    """

    def __init__(self, processor: BaseImageProcessor | None = None):
        self.processor = processor

    def __call__(self, examples: list[dict]) -> dict:
        labels = torch.tensor([e["labels"] for e in examples], dtype=torch.long)
        if self.processor is not None:
            batch = self.processor([e["pixel_values"] for e in examples], return_tensors="pt")
            return {**batch, "labels": labels}
        batch = {"pixel_values": _stack([e["pixel_values"] for e in examples]), "labels": labels}
        if "aug_seeds" in examples[0]:
            batch["aug_seeds"] = [e["aug_seeds"] for e in examples]
        return batch


def _stack(images: list[torch.Tensor]) -> torch.Tensor:
    """Stack CHW images, keeping channels-last ones (the pixel cache's) channels-last: a plain `torch.stack`
    would transpose them byte by byte (~10x slower)."""
    if images[0].dim() == 3 and images[0].stride(0) == 1:
        return torch.stack([image.permute(1, 2, 0) for image in images]).permute(0, 3, 1, 2)
    return torch.stack(images)
