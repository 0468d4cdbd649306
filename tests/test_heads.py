"""The zero-shot head as a saved model, layer-wise learning-rate decay, LP-FT, label smoothing, option checks.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_heads.py -q      # ~30 s; -m "not slow": ~10 s
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from argv import training_argv
from test_zero_shot import head_logits, random_images
from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, TrainerCallback, pipeline

from har_finetune import HAR_CLASSES
from har_finetune.core.errors import UserError
from har_finetune.models.registry import load_classifier
from har_finetune.settings.parser import parse_run
from har_finetune.training.job import main
from har_finetune.training.optimization import layer_index, lp_ft_multipliers, param_groups
from har_finetune.training.trainer import HarTrainer

CLASSES = list(HAR_CLASSES)


@pytest.fixture(scope="module")
def zero_shot_run(tiny_checkpoints, tmp_path_factory) -> Path:
    """A run folder as training leaves it for `--head zero_shot`: model files and image processor."""
    run = tmp_path_factory.mktemp("zero_shot_run")
    model, _ = load_classifier(tiny_checkpoints["clip"], CLASSES, seed=0, head="zero_shot")
    model.save_pretrained(run)
    AutoImageProcessor.from_pretrained(tiny_checkpoints["clip"]).save_pretrained(run)
    return run


def test_saved_zero_shot_model_names_its_code_and_loads_with_auto_classes(zero_shot_run, tiny_checkpoints):
    config = json.loads((zero_shot_run / "config.json").read_text())
    assert config["model_type"] == "har_zero_shot_head" and config["id2label"]["14"] == "using_laptop"
    assert config["auto_map"]["AutoModelForImageClassification"] == "zero_shot_head.ZeroShotHeadForImageClassification"
    code = (zero_shot_run / "zero_shot_head.py").read_text()
    assert "from ." not in code and "har_finetune" not in code.split('"""')[-1].split("if __name__")[0]
    loaded = AutoModelForImageClassification.from_pretrained(zero_shot_run)  # registered by the package
    original, _ = load_classifier(tiny_checkpoints["clip"], CLASSES, seed=0, head="zero_shot")
    images = random_images(3)
    torch.testing.assert_close(
        head_logits(loaded, tiny_checkpoints["clip"], images), head_logits(original, tiny_checkpoints["clip"], images)
    )
    top = pipeline("image-classification", model=str(zero_shot_run))(images[0], top_k=15)
    assert sorted(t["label"] for t in top) == sorted(CLASSES)


@pytest.mark.slow
def test_without_the_package_it_loads_only_with_trust_remote_code(zero_shot_run, tmp_path):
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForImageClassification\n"
        "try:\n"
        "    AutoModelForImageClassification.from_pretrained(sys.argv[1])\n"
        "    print('LOADED WITHOUT TRUST')\n"
        "except ValueError as error:\n"
        "    print('refused:', 'trust_remote_code' in str(error))\n"
        "model = AutoModelForImageClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()\n"
        "torch.manual_seed(0)\n"
        "print('logits', model(pixel_values=torch.randn(1, 3, 32, 32)).logits.sum().item())\n"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(zero_shot_run)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert "refused: True" in out.stdout, out.stdout + out.stderr
    loaded = AutoModelForImageClassification.from_pretrained(zero_shot_run).eval()
    torch.manual_seed(0)
    expected = loaded(pixel_values=torch.randn(1, 3, 32, 32)).logits.sum().item()
    assert float(out.stdout.split("logits")[1]) == pytest.approx(expected, abs=1e-4)


def test_layer_index_covers_both_heads_and_every_family(tiny_checkpoints):
    blocks = 2
    assert layer_index("vision_model.embeddings.patch_embedding.weight", blocks) == 0
    assert layer_index("vision_model.vision_model.pre_layrnorm.weight", blocks) == 0  # CLIP: before block 0
    assert layer_index("vision_model.encoder.layers.1.mlp.fc1.weight", blocks) == 2
    assert layer_index("vision_model.post_layernorm.weight", blocks) == 3
    assert layer_index("vision_model.head.probe", blocks) == 3 and layer_index("classifier.weight", blocks) == 3
    for model_type in ("clip", "siglip", "siglip2"):
        for head in ("default", "zero_shot"):
            model, _ = load_classifier(tiny_checkpoints[model_type], CLASSES, seed=0, head=head)
            layers = {layer_index(name, blocks) for name, _ in model.named_parameters()}
            assert layers == {0, 1, 2, 3}, (model_type, head)


@pytest.mark.parametrize("head", ["default", "zero_shot"])
def test_layer_decay_groups(tiny_checkpoints, head):
    model, _ = load_classifier(tiny_checkpoints["clip"], CLASSES, seed=0, head=head)
    decayed = {n for n, _ in model.named_parameters() if "bias" not in n and "norm" not in n}
    groups = param_groups(model, learning_rate=1.0, weight_decay=0.1, layer_decay=0.5, decay_names=decayed)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert len(lr_of) == sum(len(g["params"]) for g in groups) == len(named)  # every parameter exactly once
    by_name = {name: lr_of[id(p)] for name, p in named.items()}
    patch = next(n for n in named if "patch_embedding" in n)
    block0 = next(n for n in named if "layers.0." in n)
    block1 = next(n for n in named if "layers.1." in n)
    assert by_name["classifier.weight"] == 1.0 and by_name[block1] == 0.5 and by_name[block0] == 0.25
    assert by_name[patch] == 0.125
    assert wd_of[id(named["classifier.bias"])] == 0.0 and wd_of[id(named["classifier.weight"])] == 0.1
    assert groups[0]["is_head"] and not groups[-1]["is_head"]  # Trainer logs group 0: the head


def test_lp_ft_multipliers():
    head, rest = lp_ft_multipliers(lambda s: 1.0 - s / 10, lambda s: 0.5 + s, probe_steps=4, head_scale=100.0)
    assert [head(s) for s in range(4)] == pytest.approx([100.0, 90.0, 80.0, 70.0])
    assert [rest(s) for s in range(4)] == [0.0] * 4
    assert head(4) == rest(4) == 0.5 and head(6) == rest(6) == 2.5  # the schedule restarts after the probe


class RandomImages(torch.utils.data.Dataset):
    def __init__(self, count: int):
        generator = torch.Generator().manual_seed(0)
        self.pixels = torch.randn(count, 3, 32, 32, generator=generator)
        self.labels = torch.randint(0, len(CLASSES), (count,), generator=generator)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i], "labels": self.labels[i]}


class Snapshots(TrainerCallback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self.weights.append({n: p.detach().clone() for n, p in model.named_parameters()})


@pytest.mark.parametrize("head", ["default", "zero_shot"])
def test_linear_probe_epochs_train_only_the_head_then_everything(tiny_checkpoints, tmp_path, head):
    model, _ = load_classifier(tiny_checkpoints["siglip"], CLASSES, seed=0, head=head)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    snapshots = Snapshots()
    args = parse_run(
        [
            "--output_dir",
            str(tmp_path),
            "--num_train_epochs",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--learning_rate",
            "1e-2",
            "--eval_strategy",
            "no",
            "--save_strategy",
            "no",
            "--load_best_model_at_end",
            "False",
            "--dataloader_num_workers",
            "0",
            "--report_to",
            "none",
            "--disable_tqdm",
            "True",
            "--warmup_steps",
            "0",
            "--layer_decay",
            "0.8",
        ],
        "siglip",
    ).training
    trainer = HarTrainer(
        model=model,
        args=args,
        train_dataset=RandomImages(8),
        callbacks=[snapshots],
        layer_decay=0.8,
        linear_probe_epochs=1,
        linear_probe_learning_rate=1e-1,
    )
    trainer.train()
    probe, full = snapshots.weights
    changed = {n for n in before if not torch.equal(before[n], probe[n])}
    assert changed == {"classifier.weight", "classifier.bias"}
    assert all(not torch.equal(probe[n], full[n]) for n in before if "layers.0." in n or "patch_embedding" in n)
    learning_rates = [e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e]
    assert learning_rates[0] == pytest.approx(1e-1)  # the head's probe rate, logged as group 0


@pytest.mark.parametrize("head", ["default", "zero_shot"])
def test_stock_label_smoothing_applies_to_both_heads(tiny_checkpoints, tmp_path, head):
    model, _ = load_classifier(tiny_checkpoints["clip"], CLASSES, seed=0, head=head)
    batch = RandomImages(4)[:]
    args = parse_run(
        [
            "--output_dir",
            str(tmp_path),
            "--label_smoothing_factor",
            "0.1",
            "--eval_strategy",
            "no",
            "--load_best_model_at_end",
            "False",
            "--dataloader_num_workers",
            "0",
        ],
        "clip",
    ).training
    trainer = Trainer(model=model, args=args)
    loss = trainer.compute_loss(model.eval(), {**batch})
    log_p = torch.log_softmax(model(pixel_values=batch["pixel_values"]).logits, dim=-1)
    nll = -log_p.gather(1, batch["labels"][:, None]).squeeze(1)
    expected = (0.9 * nll - 0.1 * log_p.mean(dim=-1)).mean()
    torch.testing.assert_close(loss, expected)
    assert not torch.allclose(loss, nll.mean())


@pytest.mark.parametrize("head", ["default", "zero_shot"])
def test_gradient_accumulation_gives_the_same_step_as_one_big_batch(tiny_checkpoints, tmp_path, head):
    """Trainer scales the loss of both heads for accumulation (stock transformers 5.24 would not for `default`)."""

    def one_sgd_step(accumulation: int) -> tuple[float, torch.Tensor]:
        model, _ = load_classifier(tiny_checkpoints["clip"], CLASSES, seed=0, head=head)
        args = parse_run(
            [
                "--output_dir",
                str(tmp_path),
                "--per_device_train_batch_size",
                str(8 // accumulation),
                "--gradient_accumulation_steps",
                str(accumulation),
                "--max_steps",
                "1",
                "--optim",
                "sgd",
                "--learning_rate",
                "0.1",
                "--lr_scheduler_type",
                "constant",
                "--max_grad_norm",
                "0",
                "--logging_steps",
                "1",
                "--eval_strategy",
                "no",
                "--save_strategy",
                "no",
                "--load_best_model_at_end",
                "False",
                "--dataloader_num_workers",
                "0",
                "--disable_tqdm",
                "True",
            ],
            "clip",
        ).training
        trainer = Trainer(model=model, args=args, train_dataset=RandomImages(8))
        trainer.train()
        return trainer.state.log_history[0]["loss"], model.classifier.weight.detach()

    (loss, weight), (accumulated_loss, accumulated_weight) = one_sgd_step(1), one_sgd_step(2)
    assert accumulated_loss == pytest.approx(loss, rel=1e-4)
    torch.testing.assert_close(accumulated_weight, weight)


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--head", "linear"], "--head linear: choose one of default, zero_shot"),
        (["--layer_decay", "0"], "--layer_decay must be in"),
        (["--layer_decay", "1.5"], "--layer_decay must be in"),
        (["--linear_probe_epochs", "6"], "below --num_train_epochs 6"),
        (["--wise_ft_alpha", "0.5"], "needs --head zero_shot"),
        (["--head", "zero_shot", "--wise_ft_alpha", "0.5", "1.2"], r"in \[0, 1\]"),
        (["--prompt_templates", "a photo"], "exactly one"),
    ],
)
def test_bad_options_are_refused_with_what_to_change(flags, message):
    with pytest.raises(UserError, match=message):
        parse_run(flags, "clip")


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_recipes_parse_and_can_be_overridden(family):
    recipe = Path(__file__).parents[1] / "recipes" / f"{family}.yaml"
    spec = parse_run([str(recipe)], family)
    model_args = spec.model
    data_args = spec.data
    args = spec.training
    assert model_args.head == "zero_shot" and args.zero_shot and args.wise_ft_alpha[-1] == 1.0
    assert args.layer_decay < 1 and args.linear_probe_epochs == 1 and data_args.augmentation == "trivialaugment"
    spec = parse_run([str(recipe), "--head", "default", "--wise_ft_alpha", "1"], family)
    model_args = spec.model
    args = spec.training
    assert model_args.head == "default" and args.wise_ft_alpha is None  # alpha 1 alone: plain fine-tuning


@pytest.mark.slow
def test_lp_ft_with_layer_decay_resumes_exactly(tiny_checkpoints, learnable_har, tmp_path):
    """Killed after the probe epoch and resumed: the same learning rates and losses as an uninterrupted run."""

    def train(out: Path) -> list[tuple]:
        argv = training_argv(
            learnable_har,
            tiny_checkpoints["clip"],
            str(out),
            "--head",
            "zero_shot",
            "--linear_probe_epochs",
            "1",
            "--linear_probe_learning_rate",
            "1e-2",
            "--layer_decay",
            "0.7",
            "--learning_rate",
            "1e-3",
            "--num_train_epochs",
            "3",
            "--logging_steps",
            "1",
            "--max_train_samples",
            "48",
            "--per_device_train_batch_size",
            "16",
            "--save_total_limit",
            "5",
            "--load_best_model_at_end",
            "False",
        )
        assert main(argv, family="clip") == 0
        history = json.loads((out / "trainer_state.json").read_text())["log_history"]
        return [(e["step"], e["learning_rate"], round(e["loss"], 5)) for e in history if "loss" in e]

    whole = train(tmp_path / "whole")
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    for name in ("run_config.json", "split.csv", "versions.json", "skipped_images.csv"):
        shutil.copy(tmp_path / "whole" / name, resumed / name)
    shutil.copytree(tmp_path / "whole" / "checkpoint-3", resumed / "checkpoint-3")  # 48 images / 16 = 3 steps
    assert train(resumed) == whole
    assert [lr for _, lr, _ in whole][3] == 0.0 < [lr for _, lr, _ in whole][1]  # the restart's warm-up; the probe
