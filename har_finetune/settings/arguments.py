"""Settings: our own dataclasses (with help text) plus the stock `TrainingArguments`, parsed by `HfArgumentParser`.

    python fine_tune_har_clip.py --dataset Bingsu/Human_Action_Recognition --learning_rate 3e-5
    python fine_tune_har_clip.py recipe.yaml                  # a JSON/YAML file stands in for the flags
    python fine_tune_har_clip.py recipe.yaml --num_train_epochs 3   # ... and flags after it override it

Defaults mirror the report this tool reproduces: 6 epochs, batch size 32, evaluate and save every epoch,
keep the best model by validation accuracy, seed 42.
"""

import dataclasses
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser, TrainingArguments

from har_finetune.campaign import task_argv
from har_finetune.core.defaults import (
    AUGMENTATIONS,
    DEFAULT_CHECKPOINTS,
    DEFAULT_DATASET,
    DEFAULT_TEMPLATES,
    HEADS,
    available_cpus,
    bad_templates,
)
from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import run_is_finished
from har_finetune.settings import flags
from har_finetune.settings.environment import check_environment

DESCRIPTIONS = {
    "clip": "Fine-tune a CLIP vision tower on Human Action Recognition (run folder: docs/run_folder.md).",
    "siglip": "Fine-tune a SigLIP or SigLIP 2 vision tower on Human Action Recognition (run folder: "
    "docs/run_folder.md).",
}
EPILOG = (
    "Our settings come first, then every stock transformers TrainingArguments flag. A JSON/YAML recipe may come "
    "first and stand in for flags: `python fine_tune_har_clip.py recipes/clip.yaml --num_train_epochs 3`."
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
    split_seed: int = field(
        default=42,
        metadata={
            "help": "Seed of the carved test/validation split, independent of --seed: runs over the same data "
            "share one split.csv, so the report can pair their test predictions."
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


class _Parser(HfArgumentParser):
    """argparse's own errors (a value of the wrong type, a flag without its value) as one line, not usage + exit."""

    def error(self, message: str):
        raise UserError(f"{message.rstrip('.')}; see --help")


def _auto_precision(explicit: set[str]) -> dict:
    """bf16 where the GPU supports it, else fp16 on CUDA, fp32 on CPU; --bf16/--fp16 override."""
    if explicit & {"bf16", "fp16"} or not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def parse_args(argv: list[str], family: str) -> tuple[ModelArguments, DataArguments, HarTrainingArguments]:
    """Parse and check flags (optionally after one JSON/YAML recipe) for the `family` script ("clip" or "siglip"),
    then the environment the run needs (pixel cache folder, --report_to, --push_to_hub); touches no data."""
    notes: list[str] = []
    model_args, data_args, training_args = parse_flags(argv, family, notes)
    if not run_is_finished(training_args.output_dir):  # a finished run needs nothing more
        check_environment(data_args.pixel_cache, data_args.pixel_cache_dir, training_args)
    for message in notes:  # only once everything passed: an error stays the one line on stderr
        flags.note(message)
    return model_args, data_args, training_args


def parse_flags(
    argv: list[str], family: str, notes: list[str] | None = None
) -> tuple[ModelArguments, DataArguments, HarTrainingArguments]:
    """The flags alone, each problem one `UserError` line naming the flag and the fix. Settings changed for the
    user are added to `notes` (printed as `note:` lines at the end when no list is given)."""
    pending = [] if notes is None else notes
    recipe, recipe_values = None, {}
    if argv and argv[0].endswith(flags.RECIPE_SUFFIXES) and not argv[0].startswith("-"):
        recipe, recipe_values, argv = argv[0], flags.read_recipe(argv[0]), argv[1:]
    # a campaign task (--sweep, --task_index, a Slurm array): its seed or settings, and its folder
    argv = task_argv(argv, recipe_values.get("output_dir", f"outputs/{family}"))
    flags.renamed_flags_in(argv)
    parser = _Parser(  # no abbreviations: --lr must not become --lr_scheduler_type
        (ModelArguments, DataArguments, HarTrainingArguments),
        description=DESCRIPTIONS[family],
        epilog=EPILOG,
        allow_abbrev=False,
    )
    valid = sorted({action.dest for action in parser._actions} - {"help"})
    if recipe and set(recipe_values) - set(valid):
        flags.unknown_recipe_keys(recipe, recipe_values, sorted(set(recipe_values) - set(valid)), valid)
    explicit = set(recipe_values) | _dests_given(parser, argv)
    parser.set_defaults(**{"output_dir": f"outputs/{family}", **recipe_values, **_auto_precision(explicit)})
    namespace, remaining = parser.parse_known_args(args=argv)
    if remaining:
        hint = f"python fine_tune_har_{family}.py RECIPE [--flag value ...]"
        raise UserError(flags.unknown_flag_message(remaining[0], valid, hint))
    values = vars(namespace)
    flags.check_values(values)
    flags.align_strategies(values, explicit, pending)
    model_args, data_args, training_args = (_build(dtype, values) for dtype in parser.dataclass_types)
    model_args.model_name_or_path = model_args.model_name_or_path or DEFAULT_CHECKPOINTS[family]
    check_fine_tuning_options(model_args, training_args)
    refuse_fsdp(training_args)
    for message in pending if notes is None else ():
        flags.note(message)
    return model_args, data_args, training_args


def _dests_given(parser: HfArgumentParser, argv: list[str]) -> set[str]:
    """Settings named on the command line (--no_X forms included)."""
    actions = parser._option_string_actions
    return {actions[o].dest for o in (arg.partition("=")[0] for arg in argv if arg.startswith("--")) if o in actions}


def _build(dtype: type, values: dict):
    """One settings dataclass from the parsed values; TrainingArguments' own checks become one line."""
    try:
        return dtype(**{f.name: values[f.name] for f in dataclasses.fields(dtype) if f.init})
    except (ValueError, ImportError) as error:
        raise UserError(f"invalid settings (TrainingArguments): {error}") from None


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
    bad = bad_templates(model_args.prompt_templates)
    if bad or not model_args.prompt_templates:
        raise UserError(f"--prompt_templates need exactly one '{{}}' for the class name; got {bad or 'none'}")
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
