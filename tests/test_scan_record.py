"""The recorded scan: a second run decodes only the images that changed (data/scan_record.py says what "changed"
means), and the pixel store follows without decoding.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_scan_record.py      # a few seconds
"""

import io
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import CLIPImageProcessor

from har_finetune.data import images, pixel_files, scan_record
from har_finetune.data.cache import ScanRecorder, open_store, scan_record_file
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.data.scan import scan_dataset
from har_finetune.data.sources import FileReader
from har_finetune.data.synthetic import synthetic_image
from har_finetune.data.transforms import train_storage

SIZES = [(251, 183), (240, 180), (183, 251), (300, 200), (260, 190), (230, 170)]


@pytest.fixture
def dataset(tmp_path) -> tuple[Path, list[str]]:
    """Six HAR-sized JPEGs, a copy of one (an exact duplicate) and a broken file."""
    folder = tmp_path / "data"
    folder.mkdir()
    rng = random.Random(0)
    for i, size in enumerate(SIZES):
        synthetic_image(i % 5, 5, rng, size).save(folder / f"{i}.jpg", quality=90)
    shutil.copyfile(folder / "2.jpg", folder / "copy.jpg")
    (folder / "broken.jpg").write_bytes((folder / "1.jpg").read_bytes()[:500])
    return folder, sorted(p.name for p in folder.iterdir())


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """Counts every decode: the scan's and the pixel store's."""
    calls = []
    for module in (images, pixel_files):
        original = module.decode_rgb
        monkeypatch.setattr(module, "decode_rgb", lambda data, original=original: calls.append(1) or original(data))
    return calls


def _scan(folder: Path, ids: list[str], cache: Path):
    return scan_dataset(FileReader(str(folder)), ids, cache / "scans" / "data.npz", workers=2)


def test_an_unchanged_dataset_is_not_decoded_again(dataset, tmp_path, decodes):
    folder, ids = dataset
    first = _scan(folder, ids, tmp_path)
    assert len(decodes) == len(ids)  # the broken file's decode raises
    decodes.clear()
    again = _scan(folder, ids, tmp_path)
    assert decodes == [] and again == first
    by_id = dict(zip(ids, again))
    assert by_id["copy.jpg"].content_hash == by_id["2.jpg"].content_hash  # duplicates still found by content
    assert not by_id["broken.jpg"].ok and "unreadable" in by_id["broken.jpg"].error


def test_changed_added_removed_and_renamed_files(dataset, tmp_path, decodes):
    folder, ids = dataset
    first = dict(zip(ids, _scan(folder, ids, tmp_path)))
    synthetic_image(4, 5, random.Random(9), (251, 183)).save(folder / "0.jpg", quality=90)  # changed
    synthetic_image(1, 5, random.Random(7), (250, 180)).save(folder / "new.jpg", quality=90)  # added
    (folder / "3.jpg").rename(folder / "renamed.jpg")  # renamed (= removed + added, same bytes)
    (folder / "4.jpg").unlink()  # removed
    now = sorted(p.name for p in folder.iterdir())
    decodes.clear()
    results = dict(zip(now, _scan(folder, now, tmp_path)))
    assert len(decodes) == 2  # 0.jpg and new.jpg; the renamed file is known by its bytes
    assert results["0.jpg"].content_hash != first["0.jpg"].content_hash
    assert results["renamed.jpg"] == first["3.jpg"] and results["new.jpg"].ok
    assert {i: results[i] for i in ("1.jpg", "2.jpg", "5.jpg")} == {i: first[i] for i in ("1.jpg", "2.jpg", "5.jpg")}


def test_same_size_and_mtime_but_other_bytes_is_detected(dataset, tmp_path, decodes):
    """The guarantee of docs/performance.md: the kernel's ctime changes with any write, whatever mtime says."""
    folder, ids = dataset
    first = dict(zip(ids, _scan(folder, ids, tmp_path)))
    path = folder / "5.jpg"
    before = path.stat()
    other = io.BytesIO()
    synthetic_image(0, 5, random.Random(3), (230, 170)).save(other, "JPEG", quality=50)
    assert other.tell() < before.st_size
    path.write_bytes(other.getvalue().ljust(before.st_size, b"\0"))  # JPEG decoders stop at the end marker
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    decodes.clear()
    results = dict(zip(ids, _scan(folder, ids, tmp_path)))
    assert len(decodes) == 1 and results["5.jpg"].ok
    assert results["5.jpg"].content_hash != first["5.jpg"].content_hash


def test_a_copied_dataset_is_known_by_its_bytes(dataset, tmp_path, decodes):
    folder, ids = dataset
    first = _scan(folder, ids, tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # new inodes and ctimes
    decodes.clear()
    assert _scan(copy, ids, tmp_path) == first and decodes == []


def test_a_dataset_copied_to_another_path_starts_from_the_record_of_the_same_file_list(dataset, tmp_path, decodes):
    """Records are kept per dataset path (scan_record_file); a path seen for the first time with the same ids starts
    from the last record of that file list, so a copy on a node's local disk decodes nothing (docs/performance.md)."""
    folder, ids = dataset
    first = scan_dataset(FileReader(str(folder)), ids, scan_record_file(tmp_path, str(folder)), workers=2)
    copy = tmp_path / "elsewhere" / "data"
    shutil.copytree(folder, copy)
    decodes.clear()
    record = scan_record_file(tmp_path, str(copy))
    assert not record.exists()
    assert scan_dataset(FileReader(str(copy)), ids, record, workers=2) == first and decodes == []
    assert record.exists()  # its own record from now on
    (copy / "new.jpg").write_bytes((copy / "0.jpg").read_bytes()[:-2])  # another file list: nothing to start from
    decodes.clear()
    other = scan_record_file(tmp_path, "another")
    scan_dataset(FileReader(str(copy)), [*ids, "new.jpg"], other, workers=2)
    assert len(decodes) == len(ids) + 1


def test_rows_without_a_stamp_are_checked_by_their_bytes(dataset, tmp_path, decodes):
    """Hub-format readers (Arrow rows) have no file stamp: the bytes decide."""
    folder, ids = dataset
    files = {i: (folder / i).read_bytes() for i in ids}
    first = scan_dataset(files.__getitem__, ids, tmp_path / "hub.npz", workers=2)
    decodes.clear()
    assert scan_dataset(files.__getitem__, ids, tmp_path / "hub.npz", workers=2) == first and decodes == []
    files["0.jpg"] = files["5.jpg"]
    changed = scan_dataset(files.__getitem__, ids, tmp_path / "hub.npz", workers=2)
    assert decodes == [] and changed[0] == first[ids.index("5.jpg")]  # known bytes: no decode either


def test_a_record_from_another_pillow_is_not_trusted(dataset, tmp_path, decodes, monkeypatch):
    folder, ids = dataset
    _scan(folder, ids, tmp_path)
    decodes.clear()
    monkeypatch.setattr(scan_record.PIL, "__version__", "0.0")
    _scan(folder, ids, tmp_path)
    assert len(decodes) == len(ids)


def _run(folder: Path, ids: list[str], cache: Path):
    """The scan and the store as a run does them."""
    reader, storage = FileReader(str(folder)), train_storage(Preprocessing.from_processor(CLIPImageProcessor()))
    recorder = ScanRecorder(cache, storage)
    scans = scan_dataset(reader, ids, cache / "scans" / "data.npz", recorder, workers=2)
    readable = [(i, s.content_hash) for i, s in zip(ids, scans) if s.ok]
    return open_store(reader, [i for i, _ in readable], [h for _, h in readable], storage, cache, "data", recorder)


def test_a_second_run_opens_the_store_without_decoding_and_a_change_decodes_one(dataset, tmp_path, decodes):
    folder, ids = dataset
    first = _run(folder, ids, tmp_path)
    assert len(decodes) == len(ids)  # the scan's decodes fill the store: none twice
    decodes.clear()
    again = _run(folder, ids, tmp_path)
    assert decodes == [] and again.cache.folder == first.cache.folder
    synthetic_image(4, 5, random.Random(9), (251, 183)).save(folder / "0.jpg", quality=90)
    changed = _run(folder, ids, tmp_path)
    assert len(decodes) == 1 and changed.cache.folder != first.cache.folder
    expected = torch.from_numpy(np.array(images.decode_rgb((folder / "0.jpg").read_bytes())))
    assert torch.equal(changed.training(["0.jpg"])[0], expected.permute(2, 0, 1))
    assert torch.equal(changed.training(["5.jpg"])[0], first.training(["5.jpg"])[0])  # from the previous store
    assert [p for p in (tmp_path / "pixels").iterdir() if ".tmp-" in p.name] == []
