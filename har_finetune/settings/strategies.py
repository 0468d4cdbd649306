"""Keeping the best model needs a checkpoint at every evaluation: the save and evaluation strategies made to agree.

Each change made for the user is returned as a note (printed as a `note:` line once every check has passed).
"""

from har_finetune.core.errors import UserError


def align_strategies(values: dict, explicit: set[str]) -> list[str]:
    """Keeping the best model (`load_best_model_at_end`, our default) needs a checkpoint at every evaluation.

    Whichever of --save_strategy / --eval_strategy the user set, the other follows it, step counts included (so
    frequent checkpoints for a preemptible queue keep best-model selection); without evaluation or without
    checkpoints the last model is kept. Only two explicit, different strategies are refused. Each change we make
    is a line of the list returned."""
    notes: list[str] = []
    if not values["load_best_model_at_end"]:
        return notes
    save, evaluate = (str(values[f"{k}_strategy"]).lower() for k in ("save", "eval"))
    if "no" in (save, evaluate):
        values["load_best_model_at_end"] = False
        which, what = ("eval", "no validation during training") if evaluate == "no" else ("save", "no checkpoints")
        notes.append(f"--{which}_strategy no: {what}, so the final model is the last one, not the best")
        return notes
    leader = None
    if save == "best":
        return notes
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
            return notes
    elif save != "steps":
        return notes
    if not _align_steps(values, explicit, leader, notes) and leader:
        notes.append(f"--{follower}_strategy steps too, following --{leader}_strategy (to keep the best model)")
    return notes


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
