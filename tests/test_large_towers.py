"""Large towers: gradient checkpointing with every head and family, its memory saving, and the FSDP rule.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_large_towers.py -q   # ~1-2 min; -m "not slow": ~15 s
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from argv import training_argv
from test_zero_shot import random_images
from transformers import AutoImageProcessor

from har_finetune import HAR_CLASSES
from har_finetune.core.errors import UserError
from har_finetune.models.registry import load_classifier
from har_finetune.settings.parser import parse_run
from har_finetune.training.job import main

FAMILIES = ["clip", "siglip", "siglip2"]
HEADS = ["default", "zero_shot"]


def _gradients(checkpoint: str, head: str, checkpointing: dict | None) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss and every parameter's gradient after one forward/backward in training mode."""
    model, _ = load_classifier(checkpoint, list(HAR_CLASSES), seed=0, head=head)
    if checkpointing is not None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)  # what Trainer calls
        assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
    model.train()
    inputs = AutoImageProcessor.from_pretrained(checkpoint)(images=random_images(4), return_tensors="pt")
    loss = model(**inputs, labels=torch.tensor([0, 3, 7, 14])).loss
    loss.backward()
    return loss.item(), {name: p.grad for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("model_type", FAMILIES)
def test_checkpointing_gives_every_tower_parameter_the_same_gradient(tiny_checkpoints, model_type, head, reentrant):
    # The reentrant variant silently gives no gradients to layers whose inputs do not require grad (a frozen
    # embedding): every tower parameter must get the same non-zero gradient as without checkpointing.
    plain_loss, plain = _gradients(tiny_checkpoints[model_type], head, None)
    loss, grads = _gradients(tiny_checkpoints[model_type], head, {"use_reentrant": reentrant})
    assert loss == pytest.approx(plain_loss, rel=1e-6)
    trained = [name for name, grad in plain.items() if grad is not None]  # not e.g. CLIP's unused post-layernorm
    layers = [name for name in plain if ".layers." in name]
    assert len(layers) >= 16 and set(layers) <= set(trained)  # every parameter of the 2 encoder layers
    for name in trained:
        assert grads[name] is not None and grads[name].abs().sum() > 0, f"{name}: no gradient with checkpointing"
        torch.testing.assert_close(grads[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


def _train_log(dataset: str, checkpoint: str, out: Path, model_type: str, head: str, *flags: str) -> list[dict]:
    argv = training_argv(
        dataset, checkpoint, out, "--head", head, "--max_steps", "3", "--logging_steps", "1",
        "--per_device_train_batch_size", "8", "--max_train_samples", "48", "--max_eval_samples", "16", *flags,
    )  # fmt: skip
    assert main(argv, family="clip" if model_type == "clip" else "siglip") == 0
    state = json.loads((out / "trainer_state.json").read_text())
    return [entry for entry in state["log_history"] if "loss" in entry]


@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("model_type", FAMILIES)
def test_training_with_gradient_checkpointing_matches_training_without(
    tiny_checkpoints, learnable_har, tmp_path, model_type, head
):
    plain = _train_log(learnable_har, tiny_checkpoints[model_type], tmp_path / "plain", model_type, head)
    checkpointed = _train_log(
        learnable_har, tiny_checkpoints[model_type], tmp_path / "gc", model_type, head, "--gradient_checkpointing"
    )
    assert [e["step"] for e in checkpointed] == [1, 2, 3]
    # Step 1: same loss and gradient norm (all parameters, tower included); step 3's loss follows two updates,
    # so it matches only if those updates (the tower's gradients) matched too.
    for key in ("loss", "grad_norm"):
        assert checkpointed[0][key] == pytest.approx(plain[0][key], rel=1e-4)
    assert checkpointed[0]["grad_norm"] > 0
    assert checkpointed[2]["loss"] == pytest.approx(plain[2]["loss"], rel=1e-3)


# One training step of a random vision tower shaped like SigLIP so400m (27 layers, MLP 3.74x the width, 16-wide
# heads scaled down to 4) at 1/16 of its width, on 224 px images (256 patches), batch 16: ~0.5 GB of activations
# without checkpointing, tens of MB with it. Peak memory is the process's peak resident set (ru_maxrss: the kernel's
# high-water mark, which sees torch's CPU allocations, unlike tracemalloc); the step's share is the peak minus the
# resident set just before it (the high-water mark is reset there through /proc/self/clear_refs, so a higher
# peak during the imports cannot hide it), in a fresh process per setting, after a warm-up step on one image
# (which pages in the library code a first backward touches: ~100 MB that would otherwise count as the step's).
DEEP_TOWER_STEP = """
import resource, sys, torch
from transformers import SiglipVisionConfig, SiglipVisionModel
torch.manual_seed(0)
config = SiglipVisionConfig(hidden_size=72, intermediate_size=269, num_hidden_layers=27, num_attention_heads=4,
                            image_size=224, patch_size=14, vision_use_head=False)
model = SiglipVisionModel(config).train()
if sys.argv[1] == "on":
    model.gradient_checkpointing_enable()
def step(batch):
    model(pixel_values=torch.randn(batch, 3, 224, 224)).last_hidden_state.square().mean().backward()
def status_kb(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))
step(1)
try:  # reset the high-water mark (VmHWM) to the current resident set: earlier peaks (imports) must not hide the step's
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before, peak = status_kb("VmRSS"), lambda: status_kb("VmHWM")
except OSError:
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = peak()
step(16)
assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
print((peak() - before) / 1024)
"""


def _step_peak_mb(checkpointing: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DEEP_TOWER_STEP), checkpointing],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.split()[-1])


@pytest.mark.slow
def test_checkpointing_cuts_the_peak_memory_of_a_deep_tower():
    without, with_checkpointing = _step_peak_mb("off"), _step_peak_mb("on")
    print(f"training step's peak memory: {without:.0f} MB without checkpointing, {with_checkpointing:.0f} MB with")
    assert without > 150  # the activations of 27 layers are really there
    assert with_checkpointing < without / 3


@pytest.mark.parametrize("flags", [["--fsdp", "full_shard"], ["--fsdp", "shard_grad_op auto_wrap"]])
def test_fsdp_is_refused_in_one_line_before_any_data_is_read(tiny_checkpoints, tmp_path, flags):
    argv = ["--dataset", str(tmp_path / "no_such_data"), "--model_name_or_path", tiny_checkpoints["clip"], *flags]
    with pytest.raises(UserError, match="--fsdp") as refused:
        parse_run([*argv, "--output_dir", str(tmp_path / "run")], "clip")
    assert "\n" not in str(refused.value) and "checkpoint" in str(refused.value)
    assert not (tmp_path / "run").exists()


def test_fsdp_exits_2_with_one_line(tiny_checkpoints, tmp_path):
    command = [sys.executable, "fine_tune_har_clip.py", "--fsdp", "full_shard", "--dataset", str(tmp_path / "none")]
    command += ["--model_name_or_path", tiny_checkpoints["clip"], "--output_dir", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=120)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith("error: --fsdp:"), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()
