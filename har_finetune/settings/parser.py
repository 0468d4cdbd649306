"""The command line of a training run, parsed once into a checked `RunSpec`.

    python fine_tune_har_clip.py --dataset Bingsu/Human_Action_Recognition --learning_rate 3e-5
    python fine_tune_har_clip.py recipe.yaml                  # a JSON/YAML file stands in for the flags
    python fine_tune_har_clip.py recipe.yaml --num_train_epochs 3   # ... and flags after it override it

`parse_run` is what the training scripts and the Slurm batch-host check (`python -m har_finetune.check_args`) call:
the flags (argparse, once), the campaign task, every check that needs no data (checks.py), then the surroundings
(environment.py). Each problem is one `UserError` line naming the flag and the fix.
"""

import argparse
import dataclasses
import os
import sys

import torch
from transformers import HfArgumentParser, TrainingArguments

from har_finetune.core.defaults import DEFAULT_CHECKPOINTS
from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import run_is_finished
from har_finetune.settings.arguments import (
    DESCRIPTIONS,
    EPILOG,
    DataArguments,
    HarTrainingArguments,
    ModelArguments,
)
from har_finetune.settings.checks import check_spec, check_values
from har_finetune.settings.environment import check_environment
from har_finetune.settings.flag_names import renamed_flag_message, unknown_flag_message, unknown_recipe_keys
from har_finetune.settings.help_text import HelpFormatter, arrange, description
from har_finetune.settings.recipes import RECIPE_SUFFIXES, read_recipe, sweep_given_as_recipe
from har_finetune.settings.spec import RunSpec
from har_finetune.settings.strategies import align_strategies
from har_finetune.settings.tasks import CHOOSES_TASK, CampaignArguments, resolve_task

SETTINGS = (ModelArguments, DataArguments, HarTrainingArguments)


def parse_run(argv: list[str], family: str) -> RunSpec:
    """The checked settings of a run of the `family` script ("clip" or "siglip"); touches no data."""
    spec = parse_flags(argv, family)
    check_spec(spec)
    notes = list(spec.notes)
    if not run_is_finished(spec.run_dir):  # a finished run needs nothing more
        notes += check_environment(spec.data.pixel_cache, spec.data.pixel_cache_dir, spec.training)
    for message in notes:  # only once everything passed: an error stays the one line on stderr
        note(message)
    return spec


def parse_flags(argv: list[str], family: str, env: dict[str, str] | None = None) -> RunSpec:
    """The flags alone (after an optional recipe file), checked value by value; no folder or environment checks."""
    recipe, recipe_values = None, {}
    if argv and argv[0].endswith(RECIPE_SUFFIXES) and not argv[0].startswith("-"):
        recipe, recipe_values, argv = argv[0], read_recipe(argv[0]), argv[1:]
    parser = _Parser(  # no abbreviations: --lr must not become --lr_scheduler_type
        (*SETTINGS, CampaignArguments),
        prog=f"python fine_tune_har_{family}.py",
        usage=argparse.SUPPRESS,  # the description says how to call it; errors are one line (no usage block)
        description=description(DESCRIPTIONS[family], f"fine_tune_har_{family}.py"),
        epilog=EPILOG,
        allow_abbrev=False,
        formatter_class=HelpFormatter,
    )
    arrange(parser, SETTINGS, CampaignArguments, TrainingArguments)
    valid = sorted({action.dest for action in parser._actions} - {"help"})
    if recipe and set(recipe_values) - set(valid):
        unknown_recipe_keys(recipe, recipe_values, sorted(set(recipe_values) - set(valid)), valid)
    if recipe and set(recipe_values) & set(CHOOSES_TASK):
        key = sorted(set(recipe_values) & set(CHOOSES_TASK))[0]
        raise UserError(f"{recipe}: '{key}' chooses a campaign task, not a setting: give --{key} on the command line")
    if recipe:
        sweep_given_as_recipe(recipe, recipe_values, _list_settings())
    given = _dests_given(parser, argv)
    explicit = set(recipe_values) | given
    parser.set_defaults(**{"output_dir": f"outputs/{family}", **recipe_values})
    namespace, remaining = parser.parse_known_args(args=argv)
    if remaining:
        _refuse_leftovers(remaining, valid, family)
    values = vars(namespace)
    task = resolve_task(values, given, os.environ if env is None else env)
    if task:
        values |= {key: _typed(parser, key, value) for key, value in task.overrides}
        values["output_dir"] = task.output_dir  # the folder that campaign status and report look in
        explicit |= {key for key, _ in task.overrides}
    values |= _auto_precision(explicit)  # after the task: a swept --fp16 / --bf16 counts as given
    check_values(values)
    notes = align_strategies(values, explicit)
    if values["wise_ft_alpha"] and set(values["wise_ft_alpha"]) == {1.0}:
        values["wise_ft_alpha"] = None  # alpha 1 alone is the fine-tuned model: nothing to average (a recipe's off)
    model, data, training = (_build(dtype, values) for dtype in SETTINGS)
    model.model_name_or_path = model.model_name_or_path or DEFAULT_CHECKPOINTS[family]
    return RunSpec(family, model, data, training, tuple(notes))


def note(message: str) -> None:
    """A setting we changed for the user: one line on stderr, from the first process only (DDP parses on all)."""
    if os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0":
        print(f"note: {message}", file=sys.stderr, flush=True)


class _Parser(HfArgumentParser):
    """argparse's own errors (a value of the wrong type, a flag without its value) as one line, not usage + exit."""

    def error(self, message: str):
        raise UserError(f"{message.rstrip('.')}; see --help")


def _refuse_leftovers(remaining: list[str], valid: list[str], family: str) -> None:
    """What the parser left: a transformers 4 flag (named with its replacement), else a typo or a stray value."""
    for index, arg in enumerate(remaining):
        name, _, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name and not value and index + 1 < len(remaining) and not remaining[index + 1].startswith("--"):
            value = remaining[index + 1]
        message = name and renamed_flag_message(name.replace("-", "_"), value or "VALUE")
        if message:
            raise UserError(message)
    hint = f"python fine_tune_har_{family}.py RECIPE [--flag value ...]"
    raise UserError(unknown_flag_message(remaining[0], valid, hint))


def _typed(parser: HfArgumentParser, key: str, value: object) -> object:
    """A value from a sweep file, converted as the flag's own parser converts it on the command line: a flag of
    several values takes a list (a single value becomes a list of one), any other flag one value."""
    action = next((a for a in parser._actions if a.dest == key), None)
    if action is None:
        message = renamed_flag_message(key, str(value)) or unknown_flag_message(
            f"--{key}", sorted(a.dest for a in parser._actions), "a sweep file"
        )
        raise UserError(f"the sweep file: {message}")
    convert = action.type or str
    several = action.nargs in ("+", "*")
    if isinstance(value, list) and not several:
        raise UserError(f"--{key} takes one value, the sweep file gives a list ({value!r}); see --help")
    try:
        if several:
            return [convert(str(v)) for v in (value if isinstance(value, list) else [value])]
        return convert(str(value))
    except (TypeError, ValueError):
        raise UserError(f"--{key} {value!r} (from the sweep file): not a valid value; see --help") from None


def _list_settings() -> set[str]:
    """Settings a list may stand for in a recipe (`report_to: [tensorboard]`, `wise_ft_alpha: [0.5, 1.0]`): those whose
    annotation allows a list, whatever argparse makes of them on the command line (read from the classes'
    annotations: HfArgumentParser rewrites `Field.type` in place, `None | str | list[str]` becoming `str`)."""
    classes = {klass for dtype in (*SETTINGS, CampaignArguments) for klass in dtype.__mro__}
    hints = {name: hint for klass in classes for name, hint in vars(klass).get("__annotations__", {}).items()}
    return {name for name, hint in hints.items() if "list" in str(hint).lower()}


def _auto_precision(explicit: set[str]) -> dict:
    """bf16 where the GPU supports it, else fp16 on CUDA, fp32 on CPU; --bf16/--fp16 override."""
    if explicit & {"bf16", "fp16"} or not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def _dests_given(parser: HfArgumentParser, argv: list[str]) -> set[str]:
    """Settings named on the command line (--no_X forms included), read off the parser's own option table."""
    actions = parser._option_string_actions
    return {actions[o].dest for o in (arg.partition("=")[0] for arg in argv if arg.startswith("--")) if o in actions}


def _build(dtype: type, values: dict):
    """One settings dataclass from the parsed values; TrainingArguments' own checks become one line."""
    try:
        return dtype(**{f.name: values[f.name] for f in dataclasses.fields(dtype) if f.init})
    except (ValueError, ImportError) as error:
        raise UserError(f"invalid settings (TrainingArguments): {error}") from None
