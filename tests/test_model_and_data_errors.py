"""A model or dataset that cannot be found or used (not cached offline, no network, unsupported model type, no such
folder): each is one line on stderr that says what to do, exit code 2, no traceback.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_model_and_data_errors.py    # ~25 s

The entry script runs in its own process for each case, offline (HF_HUB_OFFLINE=1), except for "no network",
where the Hub endpoint is a closed port on this machine. Importing torch and transformers costs ~10 s of CPU
per process, so the offline cases share one driver process that imports once and forks a child per case: each
child runs fine_tune_har_clip.py as `__main__` with its own argv, stderr and exit code.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from forking import run_forked
from helpers_bad_input import make_dataset, tiny_checkpoint
from huggingface_hub import constants
from transformers import ViTConfig

from har_finetune import prefetch
from har_finetune.core.errors import UserError
from har_finetune.data.sources import load_source

REPO = Path(__file__).resolve().parents[1]
CLOSED_PORT = "http://127.0.0.1:9"  # "discard": nothing listens, a connection is refused at once


def _environment(root: Path, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HOME": str(root / "hf_home"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        **overrides,
    }


@pytest.fixture(scope="module")
def entry_script_errors(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """case -> (exit code, stderr) of the entry script."""
    root = tmp_path_factory.mktemp("model_and_data_errors")
    data = make_dataset(root / "data", per_class=4)
    vit = root / "vit"
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(vit)
    offline_cases = {
        "model_not_cached_offline": ["--dataset", str(data), "--model_name_or_path", "nobody/no-such-model"],
        "unsupported_model_type": ["--dataset", str(data), "--model_name_or_path", str(vit)],
        "missing_dataset_path": [
            "--dataset",
            str(root / "no" / "such" / "folder"),
            "--model_name_or_path",
            tiny_checkpoint(tmp_path_factory),
        ],
    }
    offline_cases = {name: [*argv, "--output_dir", str(root / name)] for name, argv in offline_cases.items()}
    no_network = subprocess.Popen(  # started first: the two processes import in parallel
        [
            sys.executable,
            "fine_tune_har_clip.py",
            "--dataset",
            str(data),
            "--model_name_or_path",
            "nobody/no-such-model",
            "--output_dir",
            str(root / "no_network"),
        ],
        cwd=REPO,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_environment(root, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_ENDPOINT=CLOSED_PORT),
    )
    cases = {name: {"run": "fine_tune_har_clip.py", "argv": argv} for name, argv in offline_cases.items()}
    outcomes = run_forked(cases, root, _environment(root))
    results = {name: (outcome["code"], outcome["stderr"]) for name, outcome in outcomes.items()}
    results["no_network"] = (no_network.wait(timeout=300), no_network.stderr.read())
    return results


@pytest.mark.slow  # two Python processes import torch and transformers
@pytest.mark.parametrize(
    "case, words",
    [
        ("model_not_cached_offline", ("'nobody/no-such-model'", "prefetch --model nobody/no-such-model")),
        ("no_network", ("cannot reach the Hugging Face Hub", "set HF_HUB_OFFLINE=1", "prefetch --model")),
        ("unsupported_model_type", ("model_type 'vit'", "supported model types: clip, siglip, siglip2")),
        ("missing_dataset_path", ("no such folder", "pass the dataset folder or a Hub dataset id")),
    ],
)
def test_entry_script_fails_with_one_line(entry_script_errors, case, words):
    code, stderr = entry_script_errors[case]
    assert code == 2, stderr[-2000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert lines[0].startswith("error: ") and all(w in lines[0] for w in words), lines[0]
    if case == "model_not_cached_offline":  # it is already set: said so, the hint must not ask for it, nor say NAME
        assert "HF_HUB_OFFLINE is set (offline)" in lines[0] and "HF_HUB_OFFLINE=1" not in lines[0], lines[0]
        assert "NAME" not in lines[0], lines[0]


def test_hub_dataset_not_cached_offline_says_to_prefetch(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match=r"no such local folder, and not in the local cache .*prefetch --dataset"):
        load_source("nobody/no-such-dataset")


def test_hub_dataset_without_network_fails_at_once(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", CLOSED_PORT)
    with pytest.raises(UserError, match="cannot reach the Hugging Face Hub .*set HF_HUB_OFFLINE=1"):
        load_source("nobody/no-such-dataset")


def test_prefetch_explains_that_offline_mode_downloads_nothing(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="run the prefetch without it"):
        prefetch.main(["--model", "openai/clip-vit-base-patch16"])
