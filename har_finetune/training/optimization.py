"""Layer-wise learning-rate decay and linear-probe-then-fine-tune (LP-FT): parameter groups and schedules, used
by `trainer.HarTrainer`'s optimizer and scheduler.

`--layer_decay d`: the head and everything after the last transformer block (final norm, SigLIP's pooling head,
CLIP's projection) learn at `--learning_rate`; block i of n (counting from 0) at lr * d**(n - i); the patch
embedding at lr * d**(n + 1). ViT-B/16 has 12 blocks: with d = 0.75 the embedding learns at 2.4% of the head's rate.
Lower blocks hold generic features that fine-tuning should disturb least (BEiT, ELECTRA).

`--linear_probe_epochs N`: for N epochs only the head (`classifier.*`) learns, at `--linear_probe_learning_rate`,
with the configured schedule (`--lr_scheduler_type`, warm-up fraction) over those N epochs; every other parameter
has learning rate 0. Then everything learns, with the schedule restarted over the remaining steps. A trained head
before full fine-tuning distorts the pre-trained features less (Kumar et al., 2022). Parameters keep
`requires_grad`, so DDP sees every parameter used in every step; the price is a full backward pass in the probe
epochs too.

Both only regroup parameters and reshape learning rates: `--optim`, weight decay (none on biases and norms) and
resuming from a checkpoint work as usual. With neither flag the stock optimizer and scheduler are used.
"""

import re
from collections.abc import Callable

import torch
from transformers import get_scheduler

HEAD_PREFIX = "classifier."  # the head's name in transformers' classifiers and in ZeroShotHeadForImageClassification
_BLOCK = re.compile(r"encoder\.layers\.(\d+)\.")
_EMBEDDING = re.compile(r"(^|\.)(embeddings|pre_layrnorm)\.")  # CLIP normalises the embeddings before block 0


def num_blocks(names: list[str]) -> int:
    return 1 + max((int(m.group(1)) for name in names if (m := _BLOCK.search(name))), default=-1)


def layer_index(name: str, blocks: int) -> int:
    """0 for the embedding, i + 1 for block i, blocks + 1 for everything after the last block (head included)."""
    if match := _BLOCK.search(name):
        return int(match.group(1)) + 1
    return 0 if _EMBEDDING.search(name) else blocks + 1


def param_groups(
    model: torch.nn.Module, learning_rate: float, weight_decay: float, layer_decay: float, decay_names: set[str]
) -> list[dict]:
    """Optimizer groups by (layer, decayed or not, head or not), with lr = learning_rate * layer_decay**depth.

    The head's groups come first, so the learning rate Trainer logs (group 0) is the head's.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    blocks = num_blocks([name for name, _ in named])
    groups: dict[tuple, dict] = {}
    for name, parameter in named:
        layer, decays, is_head = layer_index(name, blocks), name in decay_names, name.startswith(HEAD_PREFIX)
        group = groups.setdefault(
            (not is_head, -layer, not decays),
            {
                "params": [],
                "lr": learning_rate * layer_decay ** (blocks + 1 - layer),
                "weight_decay": weight_decay if decays else 0.0,
                "is_head": is_head,
                "layer": layer,
            },
        )
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def standard_schedule(scheduler_type: str, warmup_steps: int, total_steps: int, kwargs: dict) -> Callable:
    """The multiplier Trainer's own scheduler would apply, as a function of the step (0 after `total_steps`)."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(
        scheduler_type,
        optimizer=probe,
        num_warmup_steps=warmup_steps,
        num_training_steps=max(total_steps, 1),
        scheduler_specific_kwargs=kwargs,
    )
    if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        raise ValueError(f"--linear_probe_epochs needs a step-wise --lr_scheduler_type, not {scheduler_type}")
    return scheduler.lr_lambdas[0]


def lp_ft_multipliers(
    probe: Callable, fine_tune: Callable, probe_steps: int, head_scale: float
) -> tuple[Callable, Callable]:
    """(head, rest) multipliers of each group's learning rate: probe phase, then the restarted schedule."""

    def head(step: int) -> float:
        return head_scale * probe(step) if step < probe_steps else fine_tune(step - probe_steps)

    def rest(step: int) -> float:
        return 0.0 if step < probe_steps else fine_tune(step - probe_steps)

    return head, rest
