"""Bugs that once survived the suite when planted by hand (issue 19, item 9); each test here fails with its bug.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_caught_bugs.py     # ~15 s

- the evaluation cache key without the interpolation (two processors differing only in `resample` shared a cache);
- checkpoint label maps sorted as text ("10" < "2": wrong from 11 classes, and HAR has 15);
- the --max_eval_samples subset drawn with --seed (runs with other seeds scored on other test images);
- a run lock never released (filelock frees it when the object is collected, which hides the bug).
"""

import fcntl
import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers_bad_input import flags, make_dataset, tiny_checkpoint
from PIL import Image
from transformers import CLIPImageProcessor

from har_finetune import HAR_CLASSES
from har_finetune.data.cache import cached_pixels
from har_finetune.data.images import scan_images
from har_finetune.data.sources import FileReader
from har_finetune.data.synthetic import synthetic_image
from har_finetune.data.transforms import ProcessorGeometry
from har_finetune.run_folder import reader
from har_finetune.run_folder.files import LOCK, LOCK_HOLDER
from har_finetune.run_folder.lock import RunLock
from har_finetune.training.job import checkpoint_to_resume, main


def test_evaluation_caches_of_processors_differing_only_in_interpolation_are_apart(tmp_path):
    rng = random.Random(0)
    for i in range(3):
        synthetic_image(i, 3, rng, (251, 183)).save(tmp_path / f"{i}.png")
    files, ids = FileReader(str(tmp_path)), ["0.png", "1.png", "2.png"]
    hashes = [scan.content_hash for scan in scan_images(files, ids, workers=1)]
    bicubic = ProcessorGeometry(CLIPImageProcessor(resample=Image.Resampling.BICUBIC))
    bilinear = ProcessorGeometry(CLIPImageProcessor(resample=Image.Resampling.BILINEAR))
    first = cached_pixels(files, ids, hashes, bicubic, tmp_path / "cache", workers=1)
    second = cached_pixels(files, ids, hashes, bilinear, tmp_path / "cache", workers=1)
    fresh = cached_pixels(files, ids, hashes, bilinear, tmp_path / "alone", workers=1)
    assert first.folder != second.folder
    assert all(torch.equal(second[i], fresh[i]) for i in range(3))
    assert not all(torch.equal(first[i], second[i]) for i in range(3))


def _model_config(folder: Path, classes: list[str]) -> Path:
    folder.mkdir(parents=True)
    id2label = {str(i): name for i, name in enumerate(classes)}
    (folder / "config.json").write_text(json.dumps({"id2label": id2label, "label2id": {}}))
    return folder


def test_label_maps_are_read_in_label_id_order_from_eleven_classes(tmp_path):
    classes = list(HAR_CLASSES)
    assert len(classes) == 15
    checkpoint = _model_config(tmp_path / "run" / "checkpoint-4", classes)
    assert checkpoint_to_resume(tmp_path / "run", str(checkpoint), classes) == str(checkpoint)
    _model_config(tmp_path / "finished", classes)
    assert reader.class_names(tmp_path / "finished") == classes


@pytest.fixture(scope="module")
def eval_subsets(tmp_path_factory) -> dict[int, pd.DataFrame]:
    """--seed -> test predictions of a run with --max_eval_samples 4 (same data, same split seed)."""
    root = tmp_path_factory.mktemp("subsets")
    data, checkpoint = make_dataset(root / "data", per_class=20), tiny_checkpoint(tmp_path_factory)
    runs = {}
    for seed in (1, 2):
        out = root / f"seed-{seed}"
        argv = flags(data, checkpoint, out, "--max_eval_samples", "4", "--seed", str(seed), "--max_steps", "2")
        assert main(argv, family="clip") == 0
        runs[seed] = pd.read_csv(out / "test_predictions.csv")
    return runs


def test_max_eval_samples_scores_every_seed_on_the_same_images(eval_subsets):
    assert len(eval_subsets[1]) == 4
    assert sorted(eval_subsets[1]["id"]) == sorted(eval_subsets[2]["id"])


def test_the_run_lock_is_free_once_the_block_ends_while_the_object_lives(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = RunLock(run_dir)  # kept alive: a lock freed only when collected would still be held below
    with lock:
        assert (run_dir / LOCK_HOLDER).is_file()
    assert not (run_dir / LOCK_HOLDER).exists()
    with open(run_dir / LOCK, "a") as f:  # flock locks per open file: another open() in this process competes
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    assert lock is not None
