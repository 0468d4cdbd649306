"""`HarTrainer`: the stock Trainer, plus the batch half of the data path on the model's device, and optional
layer-wise learning-rate decay and LP-FT (optimization.py).

The fast data path delivers uint8 batches (4x less to copy than float32); `DeviceTransform` turns them into
normalised float32 (and applies the per-image augmentation policy on a GPU) right after Trainer has moved them,
in training, evaluation and prediction alike. Everything else (bf16 autocast, fused AdamW, DDP, checkpoints,
`--torch_compile`) is stock Trainer behaviour.
"""

import torch
from torch.utils.data import Dataset
from transformers import Trainer

from har_finetune.data.transforms import DeviceTransform
from har_finetune.run_folder.files import follow_umask
from har_finetune.training.optimization import lp_ft_multipliers, param_groups, standard_schedule


class HarTrainer(Trainer):
    """Stock Trainer; `device_transform` finishes uint8 batches on the device; `layer_decay`,
    `linear_probe_epochs` and `linear_probe_learning_rate` reshape the optimizer and schedule (optimization.py)."""

    def __init__(
        self,
        *args,
        device_transform: DeviceTransform | None = None,
        layer_decay: float = 1.0,
        linear_probe_epochs: float = 0.0,
        linear_probe_learning_rate: float | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.device_transform = device_transform
        self.layer_decay = layer_decay
        self.linear_probe_epochs = linear_probe_epochs
        self.linear_probe_learning_rate = linear_probe_learning_rate or self.args.learning_rate
        self.steps_per_epoch = None

    def _prepare_inputs(self, inputs: dict) -> dict:
        seeds = inputs.pop("aug_seeds", None)
        inputs = super()._prepare_inputs(inputs)
        if self.device_transform is not None and "pixel_values" in inputs:
            inputs["pixel_values"] = self.device_transform(inputs["pixel_values"], seeds)
        return inputs

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # the weights of checkpoints and of the final model: safetensors makes them 0600 whatever the umask
        super()._save(output_dir, state_dict)
        if self.args.should_save:  # Trainer calls _save on every rank; the main process writes
            follow_umask(output_dir if output_dir is not None else self.args.output_dir)

    def get_eval_dataloader(self, eval_dataset: str | Dataset | None = None):
        # With persistent workers, stock Trainer keeps one loader under the key "eval" whatever dataset it was
        # built for, so `evaluate(other_dataset)` would silently score the cached one: drop it if it differs.
        wanted = self.eval_dataset if eval_dataset is None else eval_dataset
        cached = getattr(self, "_eval_dataloaders", {}).get("eval")
        if cached is not None and not isinstance(wanted, str | dict) and cached.dataset is not wanted:
            del self._eval_dataloaders["eval"]
        return super().get_eval_dataloader(eval_dataset)

    def _init_training_state(self, max_steps, steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial):
        # A resumed run's trainer_state.json holds the logging, evaluation and save intervals it started with, and
        # Trainer would keep them: this command's --logging_steps and --save_steps take effect instead (eval_steps is
        # part of the run's identity, so it cannot differ; docs/run_folder.md "Resuming").
        resumed = super()._init_training_state(
            max_steps, steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
        )
        self.state.compute_steps(self.args, max_steps)
        return resumed

    def set_initial_training_values(self, args, dataloader):
        values = super().set_initial_training_values(args, dataloader)
        self.steps_per_epoch = values[1]  # optimizer steps per epoch, as Trainer counts them
        return values

    def create_optimizer(self, model=None):
        if self.optimizer is not None or (self.layer_decay == 1.0 and not self.linear_probe_epochs):
            return super().create_optimizer(model)
        model = self.model if model is None else model
        groups = param_groups(
            model,
            self.args.learning_rate,
            self.args.weight_decay,
            self.layer_decay,
            set(self.get_decay_parameter_names(model)),
        )
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        if {"params", "model", "optimizer_dict"} & set(optimizer_kwargs):
            raise ValueError(
                f"--optim {self.args.optim} builds its own parameter groups: it cannot be combined with "
                "--layer_decay or --linear_probe_epochs"
            )
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is not None or not self.linear_probe_epochs:
            return super().create_scheduler(num_training_steps, optimizer)
        optimizer = optimizer or self.optimizer
        probe_steps = min(round(self.linear_probe_epochs * self.steps_per_epoch), num_training_steps)
        fine_tune_steps = num_training_steps - probe_steps
        args = self.args
        probe = standard_schedule(
            args.lr_scheduler_type, args.get_warmup_steps(probe_steps), probe_steps, args.lr_scheduler_kwargs
        )
        fine_tune = standard_schedule(
            args.lr_scheduler_type, args.get_warmup_steps(fine_tune_steps), fine_tune_steps, args.lr_scheduler_kwargs
        )
        head_scale = self.linear_probe_learning_rate / args.learning_rate
        head, rest = lp_ft_multipliers(probe, fine_tune, probe_steps, head_scale)
        multipliers = [head if group.get("is_head") else rest for group in optimizer.param_groups]
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multipliers)
        self._created_lr_scheduler = True
        return self.lr_scheduler
