"""Run folders a lab can share: every file of a run (checkpoints included) gets the mode `open()` would give it.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_file_modes.py     # ~30 s
"""

import os
import stat

import pytest
from helpers_bad_input import flags, make_dataset, tiny_checkpoint

from har_finetune.run_folder.files import umask, write_text
from har_finetune.training.job import main


@pytest.fixture
def set_umask():
    """`set_umask(mask)` for the rest of the test; the old umask comes back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_atomic_writes_follow_the_umask(tmp_path, set_umask, mask):
    set_umask(mask)
    assert umask() == mask
    path = write_text(tmp_path / "a.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    with open(tmp_path / "b.txt", "w"):  # what open() gives: the reference
        pass
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode)


@pytest.mark.parametrize("mask, readable_by", [(0o022, stat.S_IROTH), (0o002, stat.S_IRGRP)], ids=["022", "002"])
def test_every_file_of_a_run_folder_is_readable_as_the_umask_says(
    tmp_path_factory, tmp_path, set_umask, mask, readable_by
):
    data = make_dataset(tmp_path / "data")
    checkpoint = tiny_checkpoint(tmp_path_factory)
    out = tmp_path / "run"
    set_umask(mask)
    assert main(flags(data, checkpoint, out), family="clip") == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.parent.name.startswith("checkpoint-") for p in files) and (out / "model.safetensors").is_file()
    unreadable = sorted(str(p.relative_to(out)) for p in files if not p.stat().st_mode & readable_by)
    assert unreadable == []
    closed = [p for p in [out, *out.rglob("*")] if p.is_dir() and not p.stat().st_mode & readable_by]
    assert closed == []
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o777 & mask == 0 for p in files)  # nothing more open than asked
