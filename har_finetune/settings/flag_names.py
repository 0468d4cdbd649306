"""Flag names people get wrong: transformers 4 names (refused, naming the transformers 5 flag with the value given:
we never translate silently), names from other tools, typos (the closest valid name is suggested).
"""

import difflib

from har_finetune.core.errors import UserError
from har_finetune.settings.recipes import RECIPE_SUFFIXES, recipe_line

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


def renamed_flag_message(name: str, value: str = "VALUE") -> str | None:
    """For a transformers 4 flag: what transformers 5 takes instead; None for any other name."""
    if name in RENAMED:
        return f"--{name} is a transformers 4 flag, gone in transformers 5: use {RENAMED[name].format(value=value)}"
    if name in REMOVED:
        return f"--{name} was removed in transformers 5 (nothing replaces it); drop it"
    return None


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
