"""Settings: our own dataclasses (with help text) plus the stock `TrainingArguments`, parsed by `HfArgumentParser`.

    python fine_tune_har_clip.py --dataset Bingsu/Human_Action_Recognition --learning_rate 3e-5
    python fine_tune_har_clip.py recipe.yaml                  # a JSON/YAML file stands in for the flags
    python fine_tune_har_clip.py recipe.yaml --num_train_epochs 3   # ... and flags after it override it

Defaults mirror the report this tool reproduces: 6 epochs, batch size 32, evaluate and save every epoch,
keep the best model by validation accuracy, seed 42.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments

from .data.transforms import AUGMENTATIONS
from .errors import UserError
from .models import DEFAULT_CHECKPOINTS, HEADS
from .zero_shot import DEFAULT_TEMPLATES, prompts

DEFAULT_DATASET = "Bingsu/Human_Action_Recognition"


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
            "help": "Classifier: default (transformers': mean-pooled tokens, random linear layer) or zero_shot "
            "(the model's own normalised image embedding, weights initialised from the class-prompt "
            "text embeddings: training starts at zero-shot accuracy). See docs/recipes.md."
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

    def __post_init__(self):
        if self.augmentation not in AUGMENTATIONS:
            raise UserError(f"--augmentation {self.augmentation}: choose one of {', '.join(AUGMENTATIONS)}")
        for name in ("test_fraction", "validation_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise UserError(f"--{name} must be between 0 and 1 (got {getattr(self, name)})")


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
        default=min(8, max(0, len(os.sched_getaffinity(0)) - 1)), metadata={"help": "Data loading processes."}
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


def _read_config_file(path: str) -> dict:
    text = Path(path).read_text()
    data = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of flag names to values")
    return data


def _auto_precision(explicit: set[str]) -> dict:
    """bf16 where the GPU supports it, else fp16 on CUDA, fp32 on CPU; --bf16/--fp16 override."""
    if explicit & {"bf16", "fp16"} or not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def parse_args(argv: list[str], family: str) -> tuple[ModelArguments, DataArguments, HarTrainingArguments]:
    """Parse flags (optionally after one JSON/YAML file) for the `family` script ("clip" or "siglip")."""
    defaults: dict = {"output_dir": f"outputs/{family}"}
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        if not Path(argv[0]).is_file():
            raise UserError(f"config file {argv[0]} does not exist")
        defaults.update(_read_config_file(argv[0]))
        argv = argv[1:]
    explicit = set(defaults) | {arg[2:].split("=")[0] for arg in argv if arg.startswith("--")}
    defaults.update(_auto_precision(explicit))
    parser = HfArgumentParser((ModelArguments, DataArguments, HarTrainingArguments))
    unknown = set(defaults) - {action.dest for action in parser._actions}
    if unknown:
        raise UserError(f"unknown settings in the config file: {sorted(unknown)}")
    parser.set_defaults(**defaults)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    model_args.model_name_or_path = model_args.model_name_or_path or DEFAULT_CHECKPOINTS[family]
    check_fine_tuning_options(model_args, training_args)
    refuse_fsdp(training_args)
    return model_args, data_args, training_args


def refuse_fsdp(args: HarTrainingArguments) -> None:
    """FSDP (`--fsdp`) saves sharded model and optimizer states (`pytorch_model_fsdp_0/`, `optimizer_0/`) that the
    resume logic (checkpoints.py) cannot check, so every checkpoint would count as incomplete and a requeued job
    would silently start again from step 0. Refused until that is supported; large towers fit one GPU with
    --gradient_checkpointing and --bf16."""
    if args.fsdp:
        raise UserError(
            "--fsdp: FSDP checkpoints cannot be resumed by this tool (sharded states that checkpoints.py does not "
            "check); drop --fsdp and train with DDP (a process per GPU), --gradient_checkpointing for large towers"
        )


def check_fine_tuning_options(model_args: ModelArguments, args: HarTrainingArguments) -> None:
    """--head, prompts, LP-FT, layer decay and WiSE-FT settings, with what to change."""
    if model_args.head not in HEADS:
        raise UserError(f"--head {model_args.head}: choose one of {', '.join(HEADS)}")
    try:
        prompts(["class"], model_args.prompt_templates)
    except ValueError as error:
        raise UserError(f"--prompt_templates: {error}") from None
    if not 0 < args.layer_decay <= 1:
        raise UserError(f"--layer_decay must be in (0, 1] (got {args.layer_decay}); 0.65-0.85 is typical for ViT-B")
    if args.linear_probe_epochs < 0 or (args.max_steps <= 0 and args.linear_probe_epochs >= args.num_train_epochs):
        raise UserError(
            f"--linear_probe_epochs {args.linear_probe_epochs} must be at least 0 and below "
            f"--num_train_epochs {args.num_train_epochs}"
        )
    if args.linear_probe_learning_rate is not None and args.linear_probe_learning_rate <= 0:
        raise UserError("--linear_probe_learning_rate must be positive")
    if args.wise_ft_alpha and set(args.wise_ft_alpha) == {1.0}:
        args.wise_ft_alpha = None  # alpha 1 alone is the fine-tuned model: nothing to average (turns a recipe's off)
    if args.wise_ft_alpha:
        if model_args.head != "zero_shot":
            raise UserError("--wise_ft_alpha needs --head zero_shot: the zero-shot end of the average")
        if not all(0 <= alpha <= 1 for alpha in args.wise_ft_alpha):
            raise UserError(f"--wise_ft_alpha values must be in [0, 1] (got {args.wise_ft_alpha})")
