"""The command line checked before anything is loaded: every problem is one line naming the flag and the fix.

Torch-free helpers of config.parse_args: recipe files (with the line of a syntax error), unknown flags (with the
closest valid name), transformers 4 flags (refused, naming the transformers 5 flag: we never guess at a silent
translation), values that cannot work, and the save/evaluation strategies that keeping the best model needs.
"""

import difflib
import json
import os
import re
import sys
from pathlib import Path

import yaml

from har_finetune.core.errors import UserError

RECIPE_SUFFIXES = (".json", ".yaml", ".yml")

# transformers 4 TrainingArguments names that transformers 5.24 no longer has -> what to write instead
# ("{value}" is the value given). Checked against the 5.24 dataclass fields (tests/test_flags.py).
RENAMED = {
    "evaluation_strategy": "--eval_strategy {value}",
    "warmup_ratio": "--warmup_steps {value} (a value below 1 is a fraction of the training steps)",
    "no_cuda": "--use_cpu",
    "per_gpu_train_batch_size": "--per_device_train_batch_size {value}",
    "per_gpu_eval_batch_size": "--per_device_eval_batch_size {value}",
    "include_inputs_for_metrics": "--include_for_metrics inputs",
    "push_to_hub_token": "--hub_token",
    "push_to_hub_model_id": "--hub_model_id {value}",
    "push_to_hub_organization": "--hub_model_id ORGANIZATION/NAME",
    "torchdynamo": "--torch_compile_backend {value}",
    "group_by_length": "--train_sampling_strategy group_by_length",
    "split_batches": "--accelerator_config '{{\"split_batches\": true}}'",
    "dispatch_batches": "--accelerator_config '{{\"dispatch_batches\": true}}'",
    "fsdp_transformer_layer_cls_to_wrap": "--fsdp_config",
    "fsdp_min_num_params": "--fsdp_config",
    "xpu_backend": "--ddp_backend {value}",
    "adafactor": "--optim adafactor",
    "logging_dir": "the environment variable TENSORBOARD_LOGGING_DIR (default: runs/ in the run folder)",
    "overwrite_output_dir": "nothing (a run folder resumes where it stopped; start over with a new --output_dir)",
}
REMOVED = (  # gone without a replacement: drop them
    "fp16_backend", "half_precision_backend", "fp16_opt_level", "use_mps_device", "save_safetensors", "tpu_num_cores",
    "jit_mode_eval", "use_ipex", "ray_scope", "mp_parameters", "use_legacy_prediction_loop", "past_index",
    "include_tokens_per_second", "sharded_ddp", "tpu_metrics_debug",
)  # fmt: skip
ALIASES = {  # names people type, from other tools and tutorials
    "epochs": "num_train_epochs",
    "lr": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "train_batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
    "model": "model_name_or_path",
    "model_name": "model_name_or_path",
    "dataset_name": "dataset",
    "data_dir": "dataset",
    "train_dir": "dataset",
}


def note(message: str) -> None:
    """A setting we changed for the user: one line on stderr, from the first process only (DDP parses on all)."""
    if os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0":
        print(f"note: {message}", file=sys.stderr, flush=True)


def read_recipe(path: str) -> dict:
    """A JSON/YAML recipe as a dict; a syntax error or a wrong shape is one line naming the file and line."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"recipe file {path} does not exist")
    text = file.read_text()
    try:
        data = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    except yaml.YAMLError as error:
        marks = (getattr(error, "context_mark", None), getattr(error, "problem_mark", None))
        lines = sorted({mark.line + 1 for mark in marks if mark})
        where = f" line{'s' if len(lines) > 1 else ''} {'-'.join(map(str, lines))}" if lines else ""
        problem = getattr(error, "problem", None) or error
        raise UserError(f"{path}{where}: YAML syntax error ({problem}); fix the file") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path} line {error.lineno}: JSON syntax error ({error.msg}); fix the file") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of flag names to values (name: value, one per line)")
    return data


def recipe_line(path: str, key: str) -> str:
    """'file line N' for the line that sets `key` (or just the file)."""
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if re.match(rf"""\s*["']?{re.escape(key)}["']?\s*:""", line):
            return f"{path} line {number}"
    return path


def renamed_flag_message(name: str, value: str = "VALUE") -> str | None:
    """For a transformers 4 flag: what transformers 5 takes instead; None for any other name."""
    if name in RENAMED:
        return f"--{name} is a transformers 4 flag, gone in transformers 5: use {RENAMED[name].format(value=value)}"
    if name in REMOVED:
        return f"--{name} was removed in transformers 5 (nothing replaces it); drop it"
    return None


def renamed_flags_in(argv: list[str]) -> None:
    """Refuse transformers 4 flags first, naming the value given in the replacement."""
    for index, arg in enumerate(argv):
        if not arg.startswith("--"):
            continue
        name, _, value = arg[2:].partition("=")
        if not value and index + 1 < len(argv) and not argv[index + 1].startswith("--"):
            value = argv[index + 1]
        message = renamed_flag_message(name.replace("-", "_"), value or "VALUE")
        if message:
            raise UserError(message)


def closest_flag(name: str, valid: list[str]) -> str | None:
    """The valid flag name a mistyped one most likely meant."""
    name = name.replace("-", "_")
    if name in ALIASES:
        return ALIASES[name]
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if match:
        return match[0]
    words = set(name.split("_"))  # all its words in one valid name: --train_epochs -> --num_train_epochs
    containing = sorted((v for v in valid if words <= set(v.split("_"))), key=len)
    return containing[0] if containing else None


def unknown_flag_message(arg: str, valid: list[str], recipe_first_hint: str) -> str:
    """One line for a command-line word the parser did not take."""
    if not arg.startswith("-"):
        if arg.endswith(RECIPE_SUFFIXES):
            return f"{arg}: a recipe file must come first, before any flag ({recipe_first_hint})"
        return f"unexpected argument '{arg}' (a value without its flag?); see --help"
    name = arg.lstrip("-").partition("=")[0]
    guess = closest_flag(name, valid)
    hint = f"; did you mean --{guess}?" if guess else "; see --help for the flags"
    return f"unknown flag --{name}{hint}"


def unknown_recipe_keys(path: str, recipe: dict, keys: list[str], valid: list[str]) -> None:
    for key in keys:
        message = renamed_flag_message(key, recipe[key])
        if message:
            raise UserError(f"{recipe_line(path, key)}: {message.replace('--', '', 1)}")
        guess = closest_flag(key, valid)
        hint = f"; did you mean {guess}?" if guess else ""
        raise UserError(f"{recipe_line(path, key)}: unknown setting '{key}'{hint}")


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


def align_strategies(values: dict, explicit: set[str], notes: list[str]) -> None:
    """Keeping the best model (`load_best_model_at_end`, our default) needs a checkpoint at every evaluation.

    Whichever of --save_strategy / --eval_strategy the user set, the other follows it, step counts included (so
    frequent checkpoints for a preemptible queue keep best-model selection); without evaluation or without
    checkpoints the last model is kept. Only two explicit, different strategies are refused. Each change we make
    is a line added to `notes`."""
    if not values["load_best_model_at_end"]:
        return
    save, evaluate = (str(values[f"{k}_strategy"]).lower() for k in ("save", "eval"))
    if "no" in (save, evaluate):
        values["load_best_model_at_end"] = False
        which, what = ("eval", "no validation during training") if evaluate == "no" else ("save", "no checkpoints")
        notes.append(f"--{which}_strategy no: {what}, so the final model is the last one, not the best")
        return
    leader = None
    if save == "best":
        return
    if save != evaluate:
        if {"save_strategy", "eval_strategy"} <= explicit:
            raise UserError(
                f"--eval_strategy {evaluate} and --save_strategy {save} differ, but keeping the best model needs a "
                "checkpoint at every evaluation: give only one of them (the other follows it), or add "
                "--load_best_model_at_end false"
            )
        leader, follower = ("save", "eval") if "save_strategy" in explicit else ("eval", "save")
        strategy = values[f"{follower}_strategy"] = values[f"{leader}_strategy"]
        if strategy != "steps":
            notes.append(
                f"--{follower}_strategy {strategy} too, following --{leader}_strategy (to keep the best model)"
            )
            return
    elif save != "steps":
        return
    if not _align_steps(values, explicit, leader, notes) and leader:
        notes.append(f"--{follower}_strategy steps too, following --{leader}_strategy (to keep the best model)")


def _align_steps(values: dict, explicit: set[str], leader: str | None, notes: list[str]) -> bool:
    """Both strategies are "steps": evaluate whenever a checkpoint is saved (TrainingArguments checks the rest).
    True when it changed a step count (and said so)."""
    if {"save_steps", "eval_steps"} <= explicit:
        return False
    if "save_steps" in explicit or (leader == "save" and "eval_steps" not in explicit):
        steps = values["eval_steps"] = values["save_steps"]
        notes.append(
            f"evaluating at every checkpoint (--eval_strategy steps --eval_steps {steps:g}) to keep the best model"
        )
        return True
    if "eval_steps" in explicit or leader == "eval":
        steps = values["eval_steps"] if values["eval_steps"] is not None else values["logging_steps"]
        values["save_steps"] = steps
        notes.append(
            f"saving a checkpoint at every evaluation (--save_strategy steps --save_steps {steps:g}) "
            "to keep the best model"
        )
        return True
    return False
