"""`HarTrainer`: the stock Trainer, plus the batch half of the data path on the model's device.

The fast data path delivers uint8 batches (4x less to copy than float32); `DeviceTransform` turns them into
normalised float32 (and applies the per-image augmentation policy on a GPU) right after Trainer has moved them,
in training, evaluation and prediction alike. Everything else (bf16 autocast, fused AdamW, DDP, checkpoints,
`--torch_compile`) is stock Trainer behaviour.
"""

from torch.utils.data import Dataset
from transformers import Trainer

from .data.transforms import DeviceTransform


class HarTrainer(Trainer):
    def __init__(self, *args, device_transform: DeviceTransform | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.device_transform = device_transform

    def _prepare_inputs(self, inputs: dict) -> dict:
        seeds = inputs.pop("aug_seeds", None)
        inputs = super()._prepare_inputs(inputs)
        if self.device_transform is not None and "pixel_values" in inputs:
            inputs["pixel_values"] = self.device_transform(inputs["pixel_values"], seeds)
        return inputs

    def get_eval_dataloader(self, eval_dataset: str | Dataset | None = None):
        # With persistent workers, stock Trainer keeps one loader under the key "eval" whatever dataset it was
        # built for, so `evaluate(other_dataset)` would silently score the cached one: drop it if it differs.
        wanted = self.eval_dataset if eval_dataset is None else eval_dataset
        cached = getattr(self, "_eval_dataloaders", {}).get("eval")
        if cached is not None and not isinstance(wanted, str | dict) and cached.dataset is not wanted:
            del self._eval_dataloaders["eval"]
        return super().get_eval_dataloader(eval_dataset)
