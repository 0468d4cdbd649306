"""Cache integrity: pixel shards, their index and the recorded scan carry checksums recorded when written; damaged
bytes are caught once per process and file, named in one warning and rebuilt from the images.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_cache_integrity.py     # ~20 s
"""

import logging
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers_bad_input import flags, make_dataset, tiny_checkpoint
from transformers import CLIPImageProcessor

from har_finetune.data import checksums
from har_finetune.data.cache import cached_pixels, open_store, scan_record_file
from har_finetune.data.images import decode_rgb, scan_images
from har_finetune.data.scan import scan_dataset
from har_finetune.data.sources import FileReader
from har_finetune.data.synthetic import synthetic_image
from har_finetune.data.transforms import ProcessorGeometry, train_storage
from har_finetune.training.job import main

DAMAGE = "does not hold the bytes written"


@pytest.fixture
def jpegs(tmp_path) -> tuple[FileReader, list[str], list[str]]:
    """Six HAR-sized JPEGs, their ids and content hashes."""
    rng = random.Random(0)
    for i in range(6):
        synthetic_image(i % 3, 3, rng, (240 + i, 180)).save(tmp_path / f"{i}.jpg", quality=90)
    reader, ids = FileReader(str(tmp_path)), [f"{i}.jpg" for i in range(6)]
    return reader, ids, [scan.content_hash for scan in scan_images(reader, ids, workers=1)]


def overwrite_middle(path: Path, count: int = 64) -> None:
    """Flip `count` bytes in the middle of `path` (same size, same name: only a checksum can tell)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(255 - b for b in data[middle : middle + count])
    path.write_bytes(bytes(data))


def damage_every_cache_file(cache_dir: Path) -> list[Path]:
    """Every shard and index of every pixel cache folder, overwritten in the middle."""
    damaged = sorted(p for p in (cache_dir / "pixels").glob("*/*") if p.name.startswith("shard-") or p.suffix == ".npy")
    for path in damaged:
        overwrite_middle(path)
    return damaged


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_damaged_store_shard_is_named_once_and_rebuilt_from_the_images(jpegs, tmp_path, caplog):
    reader, ids, hashes = jpegs
    storage = train_storage(CLIPImageProcessor())
    store = open_store(reader, ids, hashes, storage, tmp_path / "cache", "data")
    shard = store.cache.folder / "shard-0.u8"
    overwrite_middle(shard)
    checksums.forget()  # a new process
    caplog.set_level(logging.INFO)
    again = open_store(reader, ids, hashes, storage, tmp_path / "cache", "data")
    assert [m for m in _warnings(caplog) if DAMAGE in m] == [next(m for m in _warnings(caplog) if str(shard) in m)]
    for i, image_id in enumerate(ids):  # the images' pixels, not the damaged bytes
        assert torch.equal(again.cache[i], torch.from_numpy(np.array(decode_rgb(reader(image_id)))).permute(2, 0, 1))
    caplog.clear()
    open_store(reader, ids, hashes, storage, tmp_path / "cache", "data")
    assert _warnings(caplog) == []


def test_a_damaged_evaluation_cache_is_rebuilt_and_files_are_read_once_per_process(jpegs, tmp_path, caplog,
                                                                                    monkeypatch):  # fmt: skip
    reader, ids, hashes = jpegs
    geometry = ProcessorGeometry(CLIPImageProcessor())
    clean = cached_pixels(reader, ids, hashes, geometry, tmp_path / "cache", workers=1)
    expected = [clean[i].clone() for i in range(len(ids))]
    reads = []
    monkeypatch.setattr(checksums, "_block_matches", lambda job: reads.append(job) or False)
    cached_pixels(reader, ids, hashes, geometry, tmp_path / "cache")
    assert reads == []  # written by this process: nothing read back
    monkeypatch.undo()
    overwrite_middle(clean.folder / "shard-0.u8")
    checksums.forget()
    again = cached_pixels(reader, ids, hashes, geometry, tmp_path / "cache")
    assert sum(DAMAGE in m and "shard-0.u8" in m for m in _warnings(caplog)) == 1
    assert all(torch.equal(again[i], expected[i]) for i in range(len(ids)))


def test_a_damaged_recorded_scan_is_named_and_every_image_decoded_again(jpegs, tmp_path, caplog):
    reader, ids, _ = jpegs
    record = scan_record_file(tmp_path / "cache", "data")
    first = scan_dataset(reader, ids, record)
    overwrite_middle(record, 16)
    decoded = []
    again = scan_dataset(reader, ids, record, recorder=lambda image_id, pixels: decoded.append(image_id))
    assert again == first and sorted(decoded) == sorted(ids)
    assert sum(str(record) in m for m in _warnings(caplog)) == 1
    with np.load(record) as saved:  # a valid zip whose content no longer matches its checksum
        columns = {key: saved[key].copy() for key in saved.files}
    columns["content"][0, 0] ^= 0xFF
    np.savez(record.with_suffix(".tmp.npz"), **columns)
    record.with_suffix(".tmp.npz").replace(record)
    caplog.clear()
    decoded.clear()
    assert scan_dataset(reader, ids, record, recorder=lambda image_id, pixels: decoded.append(image_id)) == first
    assert sorted(decoded) == sorted(ids) and sum(str(record) in m for m in _warnings(caplog)) == 1


def test_bytes_overwritten_in_every_cache_file_are_rebuilt_and_the_predictions_match_a_clean_run(
    tmp_path_factory, tmp_path, capsys
):
    data, checkpoint, cache = make_dataset(tmp_path / "data"), tiny_checkpoint(tmp_path_factory), tmp_path / "cache"
    assert main(flags(data, checkpoint, tmp_path / "clean", "--pixel_cache_dir", str(cache)), family="clip") == 0
    damaged = damage_every_cache_file(cache)
    folders = {p.parent for p in damaged}
    assert len(folders) == 3  # the store, the validation and the test caches
    checksums.forget()  # the next run is a new process
    capsys.readouterr()
    assert main(flags(data, checkpoint, tmp_path / "next", "--pixel_cache_dir", str(cache)), family="clip") == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if DAMAGE in line]
    assert sorted(Path(line.split(" file ")[1].split()[0]).parent for line in warnings) == sorted(folders)
    clean = pd.read_csv(tmp_path / "clean" / "test_predictions.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "next" / "test_predictions.csv"), clean)
