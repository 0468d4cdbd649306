"""WiSE-FT: weight interpolation, the choice on validation, and a whole run with every robust fine-tuning option.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_wise_ft.py -q      # ~10 s; -m "not slow": ~1 s
"""

import json
import types

import pandas as pd
import pytest
import torch
from argv import training_argv

from har_finetune.models.wise_ft import best, choose_alpha, interpolate, snapshot
from har_finetune.training.job import main


def test_interpolate_ends_and_middle():
    zero_shot = {"w": torch.zeros(3), "b": torch.tensor([2.0]), "ids": torch.tensor([0, 1])}
    fine_tuned = {"w": torch.ones(3), "b": torch.tensor([4.0]), "ids": torch.tensor([5, 6])}
    assert torch.equal(interpolate(zero_shot, fine_tuned, 0.0)["w"], zero_shot["w"])
    assert torch.equal(interpolate(zero_shot, fine_tuned, 1.0)["b"], fine_tuned["b"])
    middle = interpolate(zero_shot, fine_tuned, 0.25)
    assert middle["w"].tolist() == [0.25] * 3 and middle["b"].item() == 2.5
    assert middle["ids"].tolist() == [5, 6]  # integer buffers are not averaged
    with pytest.raises(ValueError, match="differ"):
        interpolate(zero_shot, {"w": torch.ones(3)}, 0.5)


def test_best_prefers_accuracy_then_macro_f1_then_the_smaller_alpha():
    rows = [
        {"alpha": a, "eval_accuracy": acc, "eval_macro_f1": f1}
        for a, acc, f1 in [(0.3, 0.8, 0.7), (0.5, 0.9, 0.8), (0.7, 0.9, 0.85), (0.9, 0.9, 0.85), (1.0, 0.85, 0.9)]
    ]
    assert best(rows)["alpha"] == 0.7


class FakeTrainer:
    """`model` is one weight; 'validation accuracy' peaks where the weight is 0.7."""

    def __init__(self):
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.model.weight.data.fill_(1.0)  # the fine-tuned end

    def predict(self, dataset, metric_key_prefix):
        weight = self.model.weight.item()
        metrics = {"eval_accuracy": 1 - abs(weight - 0.7), "eval_macro_f1": 0.5, "eval_loss": weight}
        return types.SimpleNamespace(metrics=metrics)


def test_choose_alpha_scores_each_average_and_keeps_the_best():
    trainer = FakeTrainer()
    zero_shot = {"weight": torch.zeros(1, 1)}
    chosen = choose_alpha(trainer, zero_shot, [0.0, 0.5, 0.7, 1.0], validation=None)
    assert chosen["wise_ft_alpha"] == 0.7
    assert [row["alpha"] for row in chosen["wise_ft_validation"]] == [0.0, 0.5, 0.7, 1.0]
    assert [row["eval_loss"] for row in chosen["wise_ft_validation"]] == pytest.approx([0.0, 0.5, 0.7, 1.0])
    assert trainer.model.weight.item() == pytest.approx(0.7)  # the kept model is the chosen average
    assert snapshot(trainer.model)["weight"].device.type == "cpu"


@pytest.mark.slow
def test_run_with_zero_shot_head_lp_ft_layer_decay_and_wise_ft(tiny_checkpoints, learnable_har, tmp_path):
    run = tmp_path / "run"
    argv = training_argv(
        learnable_har,
        tiny_checkpoints["siglip"],
        str(run),
        "--head",
        "zero_shot",
        "--zero_shot",
        "--wise_ft_alpha",
        "0",
        "0.5",
        "1",
        "--linear_probe_epochs",
        "1",
        "--linear_probe_learning_rate",
        "1e-2",
        "--layer_decay",
        "0.8",
        "--label_smoothing_factor",
        "0.1",
        "--learning_rate",
        "1e-3",
        "--num_train_epochs",
        "3",
        "--logging_steps",
        "5",
    )
    assert main(argv, family="siglip") == 0
    results = json.loads((run / "all_results.json").read_text())
    rows = results["wise_ft_validation"]
    assert [r["alpha"] for r in rows] == [0.0, 0.5, 1.0] and results["wise_ft_alpha"] == best(rows)["alpha"]
    chosen = next(r for r in rows if r["alpha"] == results["wise_ft_alpha"])
    assert results["eval_accuracy"] == pytest.approx(chosen["eval_accuracy"])  # the saved model is the chosen one
    baseline = json.loads((run / "zero_shot_results.json").read_text())
    zero_shot = pd.read_csv(run / "zero_shot_predictions.csv")
    assert baseline["test_accuracy"] == pytest.approx((zero_shot["label"] == zero_shot["prediction"]).mean())
    assert baseline["model_type"] == "siglip" and baseline["num_test_samples"] == len(zero_shot)
    predictions = pd.read_csv(run / "test_predictions.csv")
    assert results["test_accuracy"] == pytest.approx((predictions["label"] == predictions["prediction"]).mean())
    assert (run / "zero_shot_head.py").is_file()
    settings = json.loads((run / "run_config.json").read_text())
    assert settings["model_args"]["head"] == "zero_shot" and settings["training_args"]["layer_decay"] == 0.8
