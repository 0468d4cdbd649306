"""WiSE-FT (Wortsman et al., 2022): average the weights of the zero-shot and the fine-tuned model.

    --head zero_shot --wise_ft_alpha 0.5 0.7 0.9 1.0

theta(alpha) = (1 - alpha) * theta_zero_shot + alpha * theta_fine_tuned: alpha 0 is the zero-shot classifier,
alpha 1 the fine-tuned model. Both ends must share one architecture and head, hence `--head zero_shot`. Each alpha
is scored on the validation split; the best (accuracy, then macro-F1, then the smaller alpha: closer to zero-shot
is the more robust) is kept, saved and tested. Averaging costs one validation pass per alpha, no training.
"""

import logging

import torch
from transformers import Trainer

logger = logging.getLogger(__name__)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the state dict (the zero-shot end, taken before training)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


def interpolate(
    zero_shot: dict[str, torch.Tensor], fine_tuned: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """(1 - alpha) * zero_shot + alpha * fine_tuned for float tensors; integer buffers as fine-tuned."""
    if zero_shot.keys() != fine_tuned.keys():
        raise ValueError(f"the two models differ: {sorted(zero_shot.keys() ^ fine_tuned.keys())[:5]}")
    return {
        name: torch.lerp(zero_shot[name], tensor, alpha) if tensor.is_floating_point() else tensor
        for name, tensor in fine_tuned.items()
    }


def best(rows: list[dict]) -> dict:
    return max(rows, key=lambda r: (r["eval_accuracy"], r["eval_macro_f1"], -r["alpha"]))


def choose_alpha(trainer: Trainer, zero_shot: dict[str, torch.Tensor], alphas: list[float], validation) -> dict:
    """Score each alpha on `validation`, leave the best weights in `trainer.model`; returns all_results.json keys."""
    model = trainer.model
    fine_tuned = snapshot(model)
    rows = []
    for alpha in alphas:
        model.load_state_dict(interpolate(zero_shot, fine_tuned, alpha))
        metrics = trainer.predict(validation, metric_key_prefix="eval").metrics  # predict: not added to the log
        rows.append({"alpha": alpha, **{k: metrics[k] for k in ("eval_accuracy", "eval_macro_f1", "eval_loss")}})
        logger.info(
            "WiSE-FT alpha %.2f: validation accuracy %.4f, macro-F1 %.4f",
            alpha,
            rows[-1]["eval_accuracy"],
            rows[-1]["eval_macro_f1"],
        )
    chosen = best(rows)["alpha"]
    model.load_state_dict(interpolate(zero_shot, fine_tuned, chosen))
    logger.info("WiSE-FT: keeping alpha %.2f", chosen)
    return {"wise_ft_alpha": chosen, "wise_ft_validation": rows}
