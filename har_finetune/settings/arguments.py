"""The settings of a run, as dataclasses with help text: ours (model, data) plus the stock `TrainingArguments`
with the report's defaults (the campaign flags: tasks.py). settings/parser.py parses them; checks.py checks them.

Defaults mirror the report this tool reproduces: 6 epochs, batch size 32, evaluate and save every epoch,
keep the best model by validation accuracy, seed 42.
"""

from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments

from har_finetune.core.defaults import AUGMENTATIONS, DEFAULT_CHECKPOINTS, DEFAULT_DATASET, DEFAULT_TEMPLATES
from har_finetune.core.machine import available_cpus

DESCRIPTIONS = {
    "clip": "Fine-tune a CLIP vision tower on Human Action Recognition (run folder: docs/run_folder.md).",
    "siglip": "Fine-tune a SigLIP or SigLIP 2 vision tower on Human Action Recognition (run folder: "
    "docs/run_folder.md).",
}
EPILOG = (
    "A JSON/YAML recipe may come first and stand in for flags (`python fine_tune_har_clip.py recipes/clip.yaml "
    "--num_train_epochs 3`; docs/recipes.md). The run folder: docs/run_folder.md; Slurm: docs/slurm.md."
)


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Any CLIP, SigLIP or SigLIP 2 checkpoint: a Hub id or a local folder. Default: "
            f"{DEFAULT_CHECKPOINTS['clip']} (CLIP script), {DEFAULT_CHECKPOINTS['siglip']} (SigLIP)."
        },
    )
    head: str = field(
        default="default",
        metadata={
            # "%(default)s" keeps argparse from adding "(default: default)", which reads as a stutter
            "help": "Classifier: %(default)s, the default (transformers': mean-pooled tokens, random linear "
            "layer), or zero_shot (the model's own normalised image embedding, weights initialised from the "
            "class-prompt text embeddings: training starts at zero-shot accuracy). See docs/recipes.md."
        },
    )
    prompt_templates: list[str] = field(
        default_factory=lambda: list(DEFAULT_TEMPLATES),
        metadata={
            "help": "Zero-shot prompt templates; '{}' becomes the class name with underscores as spaces. "
            "Used by --head zero_shot and --zero_shot."
        },
    )


@dataclass
class DataArguments:
    dataset: str = field(
        default=DEFAULT_DATASET,
        metadata={
            "help": "A Hub dataset id, a local copy of one (save_to_disk folder or parquet files), a "
            "folder-per-class tree (train/<class>/*, optional test/<class>/*), or the Kaggle "
            "release (train/ + Training_set.csv)."
        },
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column of Hub data (default: guess)."})
    label_column: str | None = field(default=None, metadata={"help": "Label column of Hub data (default: guess)."})
    test_fraction: float = field(
        default=0.15,
        metadata={
            "help": "Test split carved from the labelled images when the source has no "
            "labelled test split (0.15 of 12,600 = 1,890 images, like the report)."
        },
    )
    validation_fraction: float = field(
        default=0.1, metadata={"help": "Validation split carved from what is left after the test split."}
    )
    split_seed: int = field(
        default=42,
        metadata={
            "help": "Seed of the carved test/validation split, independent of --seed: runs over the same data "
            "share one split.csv, so the report can pair their test predictions."
        },
    )
    near_duplicate_distance: int = field(
        default=8,
        metadata={
            "help": "Images whose 64-bit perceptual hashes (pHash) differ in at most this many bits are near "
            "copies (re-saved, resized, slightly cropped, watermarked) and stay on one side of the split; 0 turns "
            "it off. At 8, of generated near copies none re-encoded, resized or watermarked and 1 in 16 of those "
            "cropped by up to a 20th are missed, and no pair of distinct images was grouped (docs/performance.md)."
        },
    )
    augmentation: str = field(
        default="crop_flip", metadata={"help": f"Training augmentation: {', '.join(AUGMENTATIONS)}."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on at most this many images (quick sanity checks)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on at most this many validation and test images."}
    )
    max_unreadable_fraction: float = field(
        default=0.05, metadata={"help": "Stop if more than this fraction of images cannot be decoded."}
    )
    strict: bool = field(default=False, metadata={"help": "Fail on any unreadable image instead of skipping it."})
    pixel_cache: bool = field(
        default=True,
        metadata={
            "help": "Decode each image once into a memory-mapped uint8 cache and augment and "
            "normalise batches on the GPU (docs/performance.md); --no_pixel_cache "
            "decodes every image in every epoch. SigLIP 2 always decodes per image."
        },
    )
    pixel_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Pixel cache folder (default $HAR_FINETUNE_CACHE, else $HF_HOME/har_finetune, "
            "else ~/.cache/har_finetune); entries are keyed by image content."
        },
    )
    pixel_cache_resolution: int | None = field(
        default=None,
        metadata={
            "help": "Shortest edge of cached training images, larger ones are shrunk "
            "(default 8/7 of the model input: 256 for 224)."
        },
    )


@dataclass
class HarTrainingArguments(TrainingArguments):
    """Stock TrainingArguments with the report's defaults; every stock flag still works."""

    output_dir: str | None = field(default=None, metadata={"help": "Run folder (default outputs/<family>)."})
    num_train_epochs: float = field(default=6.0, metadata={"help": "Epochs (the report: 6)."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Training batch size per device."})
    per_device_eval_batch_size: int = field(default=256, metadata={"help": "Evaluation batch size per device."})
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate on the validation split."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to save a checkpoint."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept (best and newest)."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Keep the best epoch's model."})
    metric_for_best_model: str | None = field(default="accuracy", metadata={"help": "Metric that picks it."})
    logging_steps: float = field(default=10, metadata={"help": "Log loss, learning rate, grad norm every N steps."})
    logging_first_step: bool = field(default=True, metadata={"help": "Log the first step too."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up steps (a value below 1: fraction)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Loggers (none, tensorboard...)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False for image datasets."})
    dataloader_pin_memory: bool = field(
        default=torch.cuda.is_available(), metadata={"help": "Pinned host memory (useful on a GPU only)."}
    )
    dataloader_num_workers: int = field(  # the CPUs this process may use (a Slurm allocation), not the machine's
        default_factory=lambda: min(8, max(0, available_cpus() - 1)), metadata={"help": "Data loading processes."}
    )
    use_cpu: bool = field(  # without it, torchrun on a CPU-only machine silently skips DDP set-up
        default=not torch.cuda.is_available(), metadata={"help": "Train on the CPU (default when there is no GPU)."}
    )
    dataloader_persistent_workers: bool = field(
        default=True, metadata={"help": "Keep loader processes between epochs and evaluations (off without workers)."}
    )
    zero_shot: bool = field(
        default=False,
        metadata={
            "help": "Before training, score the zero-shot classifier (class-name prompts, no "
            "training) on the test split: zero_shot_results.json, a report baseline."
        },
    )
    linear_probe_epochs: float = field(
        default=0.0, metadata={"help": "LP-FT: for this many of the epochs train only the head, then everything."}
    )
    linear_probe_learning_rate: float | None = field(
        default=None, metadata={"help": "Head learning rate in the linear-probe epochs (default --learning_rate)."}
    )
    layer_decay: float = field(
        default=1.0,
        metadata={
            "help": "Layer-wise learning-rate decay: block i of n learns at "
            "learning_rate * layer_decay**(n - i), the head at learning_rate; 1: off."
        },
    )
    wise_ft_alpha: list[float] | None = field(
        default=None,
        metadata={
            "help": "WiSE-FT: after training, average the weights (1 - a) * zero-shot + a * "
            "fine-tuned for each a given; keep the best on validation (--head zero_shot). "
            "1 alone: off."
        },
    )

    def __post_init__(self):
        if self.dataloader_num_workers == 0:
            self.dataloader_persistent_workers = False  # torch refuses persistent workers without workers
        super().__post_init__()
