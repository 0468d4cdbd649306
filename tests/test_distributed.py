"""DDP on the CPU: `torchrun --nproc_per_node=2` (gloo) trains tiny CLIP and SigLIP checkpoints.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_distributed.py -v     # ~1 min

Checks that both processes train together (half the optimizer steps of one process), that SigLIP's unused
attention-pooling head does not break DDP's gradient reduction, that only rank 0 writes the run folder (an audit
hook in every process records the files it opens for writing), and that the model learns.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from argv import training_argv

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PER_DEVICE_BATCH, EPOCHS = 8, 3
TRAINING_FLAGS = [
    "--num_train_epochs", str(EPOCHS), "--per_device_train_batch_size", str(PER_DEVICE_BATCH),
    # without it transformers 5 sets up no DDP on a machine without GPU: each process would train alone
    "--use_cpu", "True",
]  # fmt: skip

# Loaded at start-up by every Python process of the run (via PYTHONPATH): appends "<RANK> <path>" to a log for each
# file opened for writing or renamed into place under the run folder.
AUDIT_HOOK = """
import os, sys
def _record(event, args, run_dir=os.environ["AUDIT_RUN_DIR"], log=os.environ["AUDIT_LOG"]):
    if event == "open" and isinstance(args[0], str) and isinstance(args[1], str) and args[1] != "r":
        path = args[0]
    elif event == "os.rename" or event == "os.replace":
        path = os.fsdecode(args[1])
    else:
        return
    path = os.path.abspath(path)
    if path.startswith(run_dir + os.sep):
        with open(log, "a") as f:  # the log lies outside run_dir: no recursion
            f.write(f"{os.environ.get('RANK', 'launcher')} {os.path.relpath(path, run_dir)}\\n")
sys.addaudithook(_record)
"""


def torchrun(family: str, dataset: str, checkpoint: str, run_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HOME": str(tmp_path / "hf_home"),
           "PYTHONPATH": str(tmp_path / "audit"), "AUDIT_RUN_DIR": str(run_dir),
           "AUDIT_LOG": str(tmp_path / "writes")}  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           f"fine_tune_har_{family}.py", *training_argv(dataset, checkpoint, run_dir, *TRAINING_FLAGS)]  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_two_process_ddp_run(family, tiny_checkpoints, learnable_har, tmp_path):
    run_dir = tmp_path / "run"
    result = torchrun(family, learnable_har, tiny_checkpoints[family], run_dir, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    results = json.loads((run_dir / "all_results.json").read_text())
    state = json.loads((run_dir / "trainer_state.json").read_text())
    # each process sees half of every epoch (the sampler pads to an even split)
    steps_per_epoch = math.ceil(math.ceil(results["num_train_samples"] / 2) / PER_DEVICE_BATCH)
    assert state["global_step"] == EPOCHS * steps_per_epoch
    assert results["model_type"] == family and results["device"] == "cpu"
    assert results["test_accuracy"] > 0.5, results  # chance is 1/15
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert losses[-1] < losses[0]
    assert output.count("test accuracy") == 1  # rank 0 alone reports

    writes = [line.split(" ", 1) for line in (tmp_path / "writes").read_text().splitlines()]
    assert {path for rank, path in writes if rank == "0"} >= {"all_results.json", "run_config.json", "split.csv"}
    # Trainer saves each rank's random-number state into the checkpoints (needed for an exact resume); nothing else
    others = {path for rank, path in writes if rank != "0"}
    assert all(Path(p).name == "rng_state_1.pth" and Path(p).parent.name.startswith("checkpoint-") for p in others), (
        others
    )
