"""The input scan shared by the ranks of a distributed run: `torchrun --nproc_per_node=2` (gloo, CPU).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_shared_scan.py      # ~40 s

Each rank decodes about half of the images, every rank ends with the split that one process makes, the pixel
store is built from both ranks' recordings without a second decode, and a second run decodes nothing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _run(processes: int, dataset: str, checkpoint: str, cache: Path, out: Path) -> list[dict]:
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HAR_FINETUNE_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    flags = ["--dataset", dataset, "--model_name_or_path", checkpoint, "--output_dir", str(out / "run"),
             "--use_cpu", "True", "--report_to", "none"]  # fmt: skip
    command = [*launcher, str(REPO / "tests" / "helpers_shared_scan.py"), str(out), *flags]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads((out / f"counts-{rank}.json").read_text()) for rank in range(processes)]


def test_two_ranks_share_the_scan_and_make_the_same_split(learnable_har, tiny_checkpoints, tmp_path):
    images = sum(1 for p in Path(learnable_har).rglob("*") if p.is_file())
    alone = _run(1, learnable_har, tiny_checkpoints["clip"], tmp_path / "cache1", tmp_path / "alone")
    assert alone[0]["scan"] == images and alone[0]["store"] == 0
    shared = _run(2, learnable_har, tiny_checkpoints["clip"], tmp_path / "cache2", tmp_path / "shared")
    assert all(rank["distributed"] for rank in shared)
    assert [rank["scan"] for rank in shared] == [(images + 1) // 2, images // 2]  # ids[rank::2]
    assert [rank["store"] for rank in shared] == [0, 0]  # the store links both ranks' recordings
    split = (tmp_path / "alone" / "split-0.csv").read_text()
    assert split.count("\n") > images * 0.9  # every readable image (3 duplicates removed)
    assert (tmp_path / "shared" / "split-0.csv").read_text() == split
    assert (tmp_path / "shared" / "split-1.csv").read_text() == split
    assert shared[0]["store_pixels"] == shared[1]["store_pixels"] == alone[0]["store_pixels"]
    again = _run(2, learnable_har, tiny_checkpoints["clip"], tmp_path / "cache2", tmp_path / "again")
    assert [(rank["scan"], rank["store"]) for rank in again] == [(0, 0), (0, 0)]
    assert (tmp_path / "again" / "split-1.csv").read_text() == split
