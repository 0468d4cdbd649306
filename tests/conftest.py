"""Shared fixtures: tiny random checkpoints and generated image sets, built once per test session, offline.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest            # everything (what CI runs)
.venv/bin/python -m pytest -m "not slow and not slurm"  # the quick part
"""

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from har_finetune.data.synthetic import make_synthetic_har  # noqa: E402
from har_finetune.models.tiny import make_tiny_checkpoint


@pytest.fixture(scope="session", autouse=True)
def pixel_cache_in_tmp(tmp_path_factory):
    """Training runs cache decoded pixels (data/cache.py) in a session folder, never in ~/.cache."""
    os.environ["HAR_FINETUNE_CACHE"] = str(tmp_path_factory.mktemp("pixel_cache"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, str]:
    """model_type -> folder of a tiny random CLIP / SigLIP / SigLIP 2 checkpoint with its image processor."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {t: str(make_tiny_checkpoint(t, root / t)) for t in ("clip", "siglip", "siglip2")}


@pytest.fixture(scope="session")
def learnable_har(tmp_path_factory) -> str:
    """A learnable 15-class folder-per-class set with HAR class names (and 3 exact duplicates)."""
    return str(make_synthetic_har(tmp_path_factory.mktemp("har") / "har", images_per_class=30))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A real finished CLIP run folder (tests/run_folders.py `train_tiny_run`), trained once per session."""
    from run_folders import train_tiny_run

    return train_tiny_run(tmp_path_factory.getbasetemp() / "real_tiny_run")
