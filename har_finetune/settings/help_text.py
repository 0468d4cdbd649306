"""`--help` of the training scripts: what the command does, the flags people reach for first, then the rest.

Order: our settings (model, data, fine-tuning), the campaign flags (--sweep, --task_index), the common Trainer flags
(learning rate, epochs, batch size, output folder, seed, ...), then every other stock TrainingArguments flag.
Defaults are shown where there is one ("(default: None)" says nothing), and each flag under its own spelling only
(HfArgumentParser also accepts --output-dir for --output_dir).
"""

import argparse
import dataclasses

COMMON_TRAINER = (
    "output_dir",
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "bf16",
    "fp16",
    "eval_strategy",
    "save_strategy",
    "save_total_limit",
    "load_best_model_at_end",
    "logging_steps",
    "dataloader_num_workers",
    "report_to",
    "resume_from_checkpoint",
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in the help, except empty ones; one spelling per flag; the description as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        empty = action.default in (None, argparse.SUPPRESS, [], "") or isinstance(action, argparse._StoreFalseAction)
        if empty or "%(default)" in (action.help or ""):  # a --no_X flag's default is its positive form's
            return action.help or ""
        return super()._get_help_string(action)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        return f"{action.option_strings[0]} {self._format_args(action, self._get_default_metavar_for_optional(action))}"


def description(what: str, script: str) -> str:
    """What the command does, then how to call it: the first lines of --help."""
    return (
        f"{what}\n\n  python {script} [RECIPE.yaml] [--flag value ...]\n"
        f"  e.g. python {script} --dataset data/har --learning_rate 3e-5 --num_train_epochs 6 --output_dir runs/a"
    )


def arrange(parser: argparse.ArgumentParser, ours: tuple[type, ...], campaign: type, trainer_base: type) -> None:
    """Move the parser's flags into titled groups, in the order a newcomer reads them (help only: parsing is
    unchanged). `ours` are our dataclasses (a subclass of `trainer_base` contributes its new fields only)."""
    base = {f.name for f in dataclasses.fields(trainer_base)}
    own = [f.name for dtype in ours for f in dataclasses.fields(dtype) if f.name not in base]
    groups = [
        ("this tool's settings (model, data, fine-tuning)", own),
        ("campaigns (python -m har_finetune.campaign --sweep FILE lists a sweep's tasks)", [
            f.name for f in dataclasses.fields(campaign)
        ]),
        ("common Trainer settings", list(COMMON_TRAINER)),
        ("every other transformers TrainingArguments flag", None),  # the rest
    ]  # fmt: skip
    actions: dict[str, list[argparse.Action]] = {}  # a boolean has two: --X and --no_X
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            actions.setdefault(action.dest, []).append(action)
    for group in parser._action_groups:
        group._group_actions[:] = [a for a in group._group_actions if a.dest == "help"]
    parser._action_groups[:] = [g for g in parser._action_groups if g._group_actions]
    for title, names in groups:
        group = parser.add_argument_group(title)
        for name in names if names is not None else list(actions):
            if name in actions:
                group._group_actions.extend(actions.pop(name))
