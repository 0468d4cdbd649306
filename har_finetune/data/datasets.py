"""Torch datasets and the collator that Trainer consumes."""

import torch
from transformers import BaseImageProcessor, TrainerCallback

from .images import decode_rgb


class ImageClassificationDataset(torch.utils.data.Dataset):
    """Decodes image `ids` through `reader` and applies `transform`.

    Random augmentation is seeded from (seed, epoch, index), not from a global generator, so that a run resumed
    mid-epoch sees exactly the images an uninterrupted run would. `EpochSetter` keeps `epoch` current; the
    loader must not use persistent workers (they would keep a stale copy of it).
    """

    def __init__(self, reader, ids: list[str], label_ids: list[int], transform, seed: int = 0):
        self.reader, self.ids, self.label_ids, self.transform, self.seed = reader, ids, label_ids, transform, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        image = decode_rgb(self.reader(self.ids[index]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash((self.seed, self.epoch, index)) & 0x7FFF_FFFF_FFFF_FFFF)
            pixels = self.transform(image)
        return {"pixel_values": pixels, "labels": self.label_ids[index]}


class EpochSetter(TrainerCallback):
    """Tells the training dataset which epoch starts (Trainer only does so for some samplers)."""

    def __init__(self, dataset: ImageClassificationDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch + 1e-6))


class Collator:
    """Stacks tensors; for SigLIP 2 the image processor builds the batch (patches, mask, shapes)."""

    def __init__(self, processor: BaseImageProcessor | None = None):
        self.processor = processor

    def __call__(self, examples: list[dict]) -> dict:
        labels = torch.tensor([e["labels"] for e in examples], dtype=torch.long)
        if self.processor is not None:
            batch = self.processor([e["pixel_values"] for e in examples], return_tensors="pt")
            return {**batch, "labels": labels}
        return {"pixel_values": torch.stack([e["pixel_values"] for e in examples]), "labels": labels}
