"""Every check of a run's settings that needs no data, one `UserError` line each, naming the flag and the fix.

`check_spec` runs them all; the training scripts and the Slurm batch-host check (`python -m har_finetune.check_args`)
both call it through `settings.parser.parse_run`, so a command that would fail after srun fails before it.
Checks of the surroundings (pixel cache folder, --report_to, --push_to_hub) are in environment.py.
"""

from pathlib import Path

from har_finetune.core.defaults import AUGMENTATIONS, HEADS, bad_templates
from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import explicit_checkpoint_problem
from har_finetune.run_folder.files import may_train_into
from har_finetune.settings.environment import check_output_dir_writable

POSITIVE = ("learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps")
AT_LEAST_ONE_IF_SET = ("max_train_samples", "max_eval_samples", "pixel_cache_resolution")
NOT_NEGATIVE = ("weight_decay", "warmup_steps", "dataloader_num_workers", "max_grad_norm")


STRATEGIES = {
    "eval_strategy": ("no", "steps", "epoch"),
    "save_strategy": ("no", "steps", "epoch", "best"),
    "logging_strategy": ("no", "steps", "epoch"),
}


def check_values(values: dict) -> None:
    """Values that cannot work, blamed on their own flag (before TrainingArguments checks anything else)."""
    for name, choices in STRATEGIES.items():
        if str(values[name]).lower() not in choices:
            raise UserError(f"--{name} {values[name]}: choose one of {', '.join(choices)}")
    for name in POSITIVE:
        if values[name] <= 0:
            raise UserError(f"--{name} must be positive (got {values[name]})")
    for name in AT_LEAST_ONE_IF_SET:
        if values[name] is not None and values[name] < 1:
            raise UserError(f"--{name} must be at least 1 (got {values[name]}); leave it out to use all")
    for name in NOT_NEGATIVE:
        if values[name] < 0:
            raise UserError(f"--{name} must not be negative (got {values[name]})")
    if values["max_steps"] == 0 or values["max_steps"] < -1:
        raise UserError(f"--max_steps must be positive (got {values['max_steps']}); leave it out to train by epochs")
    if values["max_steps"] < 0 and values["num_train_epochs"] <= 0:
        raise UserError(f"--num_train_epochs must be positive (got {values['num_train_epochs']}), or set --max_steps")
    for name in ("eval_steps", "save_steps", "logging_steps"):
        if values[name] is not None and values[name] <= 0:
            raise UserError(f"--{name} must be positive (got {values[name]})")
    if not 0 <= values["max_unreadable_fraction"] <= 1:
        raise UserError(f"--max_unreadable_fraction must be between 0 and 1 (got {values['max_unreadable_fraction']})")
    if not 0 <= values["label_smoothing_factor"] < 1:
        raise UserError(f"--label_smoothing_factor must be in [0, 1) (got {values['label_smoothing_factor']})")
    if values["augmentation"] not in AUGMENTATIONS:
        raise UserError(f"--augmentation {values['augmentation']}: choose one of {', '.join(AUGMENTATIONS)}")
    if not 0 <= values["near_duplicate_distance"] <= 32:  # 32 of 64 bits: what two unrelated images differ in
        raise UserError(
            f"--near_duplicate_distance must be between 0 (off) and 32 bits (got {values['near_duplicate_distance']})"
        )
    for name in ("test_fraction", "validation_fraction"):
        if not 0 < values[name] < 1:
            raise UserError(f"--{name} must be between 0 and 1 (got {values[name]})")


def check_spec(spec) -> None:
    """The checks that need the built settings (a `RunSpec`): check_settings, then a --output_dir that is new,
    empty or one of our runs, and writable."""
    check_settings(spec)
    if spec.training.process_index == 0:  # the folder's one writer: other ranks may see its files half-written
        check_output_dir(spec.run_dir)


def check_settings(spec) -> None:
    """The settings alone, no folder: heads and fine-tuning options, FSDP, resumable checkpoints (also what
    `python -m har_finetune.campaign --sweep` checks for every task)."""
    check_fine_tuning_options(spec.model, spec.training)
    refuse_fsdp(spec.training)
    check_checkpointing(spec.training)


def check_checkpointing(args) -> None:
    """Checkpoints must be resumable: a preempted or requeued run continues from them."""
    if args.save_only_model and args.save_strategy != "no":
        raise UserError(
            "--save_only_model checkpoints cannot be resumed (no optimizer, scheduler or RNG state), so a "
            "preempted or requeued run would start over: drop --save_only_model (the final model is saved without "
            "optimizer state either way)"
        )
    if args.resume_from_checkpoint and (problem := explicit_checkpoint_problem(args.resume_from_checkpoint)):
        raise UserError(problem)


def check_output_dir(output_dir: Path) -> None:
    """Refuse a file, a non-empty folder that is not one of our runs (instead of mixing files into it), or a folder
    that cannot be written (the lock and the records need it, a finished run's lock too)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output_dir {output_dir} is a file; choose a folder (new or holding a run of this tool)")
    if output_dir.is_dir() and not may_train_into(output_dir):
        raise UserError(
            f"--output_dir {output_dir} holds files that are not a run of this tool; choose an empty or new folder"
        )
    check_output_dir_writable(output_dir)


def refuse_fsdp(args) -> None:
    """FSDP (`--fsdp`) saves sharded model and optimizer states (`pytorch_model_fsdp_0/`, `optimizer_0/`) that the
    resume logic (checkpoints.py) cannot check, so every checkpoint would count as incomplete and a requeued job
    would silently start again from step 0. Refused until that is supported; large towers fit one GPU with
    --gradient_checkpointing and --bf16."""
    if args.fsdp:
        raise UserError(
            "--fsdp: FSDP checkpoints cannot be resumed by this tool (sharded states that checkpoints.py does not "
            "check); drop --fsdp and train with DDP (a process per GPU), --gradient_checkpointing for large towers"
        )


def check_fine_tuning_options(model_args, args) -> None:
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
    if args.wise_ft_alpha:
        if model_args.head != "zero_shot":
            raise UserError("--wise_ft_alpha needs --head zero_shot: the zero-shot end of the average")
        if not all(0 <= alpha <= 1 for alpha in args.wise_ft_alpha):
            raise UserError(f"--wise_ft_alpha values must be in [0, 1] (got {args.wise_ft_alpha})")
