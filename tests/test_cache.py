"""The decoded-pixel cache and the fast path's wiring: keyed by content, never stale, safe with concurrent builders.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_cache.py      # a few seconds
"""

import gc
import pickle
import random
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, SiglipImageProcessor

from har_finetune.core.defaults import default_cache_dir
from har_finetune.data import cache as cache_module
from har_finetune.data import pixel_files
from har_finetune.data.cache import ScanRecorder, cached_pixels, open_store
from har_finetune.data.datasets import Collator, build_dataset
from har_finetune.data.images import decode_rgb, scan_images
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.data.sources import FileReader
from har_finetune.data.synthetic import synthetic_image
from har_finetune.data.transforms import DeviceTransform, ProcessorGeometry, train_storage
from har_finetune.settings.parser import parse_run


@pytest.fixture
def jpegs(tmp_path) -> tuple[FileReader, list[str]]:
    """Eight HAR-sized JPEGs (and one larger than the working resolution)."""
    rng = random.Random(0)
    sizes = [(251, 183), (240, 180), (183, 251), (300, 200), (97, 301), (224, 224), (260, 190), (640, 480)]
    ids = []
    for i, size in enumerate(sizes):
        synthetic_image(i % 5, 5, rng, size).save(tmp_path / f"{i}.jpg", quality=90)
        ids.append(f"{i}.jpg")
    return FileReader(str(tmp_path)), ids


def _hashes(reader, ids) -> list[str]:
    return [scan.content_hash for scan in scan_images(reader, ids, workers=2)]


def _decoded(reader, image_id) -> torch.Tensor:
    return torch.from_numpy(np.array(decode_rgb(reader(image_id)))).permute(2, 0, 1)


def test_cache_holds_the_decoded_pixels_and_is_reused(jpegs, tmp_path, monkeypatch):
    reader, ids = jpegs
    storage = train_storage(CLIPImageProcessor())
    pixels = cached_pixels(reader, ids, _hashes(reader, ids), storage, tmp_path / "cache", workers=2)
    assert len(pixels) == len(ids)
    for i in range(7):  # under the working resolution: exactly the decoded file
        assert torch.equal(pixels[i], _decoded(reader, ids[i]))
    assert pixels[7].shape == (3, 256, 341)  # 640x480 shrunk to a 256 shortest edge
    monkeypatch.setattr(cache_module, "write_all", lambda *args: pytest.fail("rebuilt a complete cache"))
    again = cached_pixels(reader, ids, _hashes(reader, ids), storage, tmp_path / "cache")
    assert again.folder == pixels.folder and torch.equal(again[3], pixels[3])
    assert [p.name for p in (tmp_path / "cache" / "pixels").iterdir()] == [pixels.folder.name]  # no leftovers


def test_cache_images_are_channels_last_views_that_never_write_back(jpegs, tmp_path, monkeypatch):
    """HWC on disk (what torch's fast uint8 resize reads), CHW to the caller; the format is part of the key."""
    reader, ids = jpegs
    storage, hashes = train_storage(CLIPImageProcessor()), _hashes(reader, ids)
    pixels = cached_pixels(reader, ids, hashes, storage, tmp_path, workers=2)
    image = pixels[1]
    assert image.shape[0] == 3 and image.stride(0) == 1 and image.permute(1, 2, 0).is_contiguous()
    expected = _decoded(reader, ids[1])
    image.zero_()  # copy-on-write mapping: the file keeps its pixels
    assert torch.equal(cached_pixels(reader, ids, hashes, storage, tmp_path)[1], expected)
    monkeypatch.setattr(cache_module, "FORMAT_VERSION", cache_module.FORMAT_VERSION - 1)
    assert cached_pixels(reader, ids, hashes, storage, tmp_path, workers=2).folder != pixels.folder


def test_changed_content_or_geometry_never_reuses_a_cache(jpegs, tmp_path):
    reader, ids = jpegs
    hashes = _hashes(reader, ids)
    clip, siglip = CLIPImageProcessor(), SiglipImageProcessor()
    first = cached_pixels(reader, ids, hashes, ProcessorGeometry(clip), tmp_path, workers=2).folder
    synthetic_image(4, 5, random.Random(9), (251, 183)).save(Path(reader.root) / ids[0], quality=90)  # edited
    edited = cached_pixels(reader, ids, _hashes(reader, ids), ProcessorGeometry(clip), tmp_path, workers=2)
    assert edited.folder != first and torch.equal(edited[0], ProcessorGeometry(clip)(_decoded(reader, ids[0])))
    assert cached_pixels(reader, ids, hashes, ProcessorGeometry(siglip), tmp_path, workers=2).folder != first
    assert cached_pixels(reader, ids[:-1], hashes[:-1], ProcessorGeometry(clip), tmp_path, workers=2).folder != first
    assert cached_pixels(reader, ids, hashes, train_storage(clip, 300), tmp_path, workers=2).folder != first


def test_incomplete_cache_is_rebuilt(jpegs, tmp_path):
    reader, ids = jpegs
    hashes = _hashes(reader, ids)
    folder = cached_pixels(reader, ids, hashes, train_storage(CLIPImageProcessor()), tmp_path, workers=2).folder
    data = folder / "shard-0.u8"
    data.write_bytes(data.read_bytes()[:1000])  # truncated (disk full, killed copy)
    rebuilt = cached_pixels(reader, ids, hashes, train_storage(CLIPImageProcessor()), tmp_path, workers=2)
    assert rebuilt.folder == folder and torch.equal(rebuilt[5], _decoded(reader, ids[5]))


def test_concurrent_builders_end_with_one_complete_cache(jpegs, tmp_path):
    reader, ids = jpegs
    hashes = _hashes(reader, ids)
    results, errors = [], []

    def build():
        try:
            results.append(cached_pixels(reader, ids, hashes, ProcessorGeometry(CLIPImageProcessor()), tmp_path, 1))
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(3)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert not errors and len({r.folder for r in results}) == 1
    assert len(list((tmp_path / "pixels").iterdir())) == 1 and torch.equal(results[0][2], results[1][2])


def test_cache_pickles_without_its_pixels(jpegs, tmp_path):
    reader, ids = jpegs
    pixels = cached_pixels(reader, ids, _hashes(reader, ids), train_storage(CLIPImageProcessor()), tmp_path, 2)
    pixels[0]  # maps the file in this process
    payload = pickle.dumps(pixels)
    assert len(payload) < 10_000  # loader workers map the file themselves
    assert torch.equal(pickle.loads(payload)[4], pixels[4])


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HAR_FINETUNE_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert default_cache_dir() == tmp_path / "hf" / "har_finetune"
    monkeypatch.setenv("HAR_FINETUNE_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("HAR_FINETUNE_CACHE")
    monkeypatch.delenv("HF_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "har_finetune"


def _recorded_store(reader, ids, cache_dir, processor=None):
    storage = train_storage(processor or CLIPImageProcessor())
    recorder = ScanRecorder(cache_dir, storage)
    hashes = [scan.content_hash for scan in scan_images(reader, ids, workers=2, on_image=recorder)]
    return open_store(reader, ids, hashes, storage, cache_dir, "jpegs", recorder), recorder


def test_the_scan_fills_the_store_so_no_image_is_decoded_twice(jpegs, tmp_path, monkeypatch):
    reader, ids = jpegs
    decoded = {i: _decoded(reader, i) for i in ids}
    decodes = []
    monkeypatch.setattr(pixel_files, "decode_rgb", lambda data: decodes.append(1) or decode_rgb(data))
    store, recorder = _recorded_store(reader, ids, tmp_path)
    assert set(recorder.rows) == set(ids) and decodes == []  # the scan recorded every image; none decoded again
    assert torch.equal(store.training(ids[2:3])[0], decoded[ids[2]])
    assert store.cache[7].shape == (3, 256, 341) and not store.cache.untouched(7)  # 640x480 shrunk
    evaluation = store.evaluation(ids, ProcessorGeometry(CLIPImageProcessor()))
    assert len(decodes) == 1  # only the shrunk image is decoded again, for exact evaluation pixels
    for i in (0, 7):
        assert torch.equal(evaluation[i], ProcessorGeometry(CLIPImageProcessor())(decoded[ids[i]]))
    assert [p.name for p in (tmp_path / "pixels").iterdir() if ".tmp-" in p.name] == []


def test_a_recording_that_is_never_published_leaves_nothing(jpegs, tmp_path):
    reader, ids = jpegs
    recorder = ScanRecorder(tmp_path, train_storage(CLIPImageProcessor()))
    scan_images(reader, ids, workers=2, on_image=recorder)  # ...then the run stops (bad data, Ctrl-C)
    assert len(list((tmp_path / "pixels").iterdir())) == 1
    del recorder
    gc.collect()
    assert list((tmp_path / "pixels").iterdir()) == []


def test_a_second_run_reuses_the_store_and_an_edited_image_gets_a_new_one(jpegs, tmp_path):
    reader, ids = jpegs
    first, _ = _recorded_store(reader, ids, tmp_path)
    again, _ = _recorded_store(reader, ids, tmp_path)
    assert again.cache.folder == first.cache.folder
    synthetic_image(4, 5, random.Random(9), (251, 183)).save(Path(reader.root) / ids[0], quality=90)  # edited
    edited, _ = _recorded_store(reader, ids, tmp_path)
    assert edited.cache.folder != first.cache.folder
    assert torch.equal(edited.cache[0], _decoded(reader, ids[0]))
    assert [p for p in (tmp_path / "pixels").iterdir() if ".tmp-" in p.name] == []  # recordings removed


@pytest.mark.parametrize("processor", [CLIPImageProcessor(), SiglipImageProcessor()], ids=["clip", "siglip"])
def test_cached_evaluation_batches_equal_the_processor(jpegs, tmp_path, processor):
    reader, ids = jpegs
    store, _ = _recorded_store(reader, ids, tmp_path, processor)
    dataset = build_dataset(
        reader,
        ids,
        list(range(len(ids))),
        Preprocessing.from_processor(processor),
        train=False,
        augmentation="crop_flip",
        seed=0,
        store=store,
    )
    batch = Collator()([dataset[i] for i in range(len(ids))])
    assert batch["pixel_values"].dtype == torch.uint8  # a quarter of float32's bytes to copy
    expected = processor([decode_rgb(reader(i)) for i in ids], return_tensors="pt")["pixel_values"]
    assert (DeviceTransform(processor)(batch["pixel_values"]) - expected).abs().max() <= 1e-5


def test_training_dataset_uses_the_store_and_static_shapes(jpegs, tmp_path):
    reader, ids = jpegs
    store, _ = _recorded_store(reader, ids, tmp_path)
    dataset = build_dataset(
        reader,
        ids[1:],
        [0] * 7,
        Preprocessing.from_processor(CLIPImageProcessor()),
        train=True,
        augmentation="randaugment",
        seed=0,
        store=store,
        policy_on_device=True,
    )
    assert torch.equal(dataset.pixels[0], _decoded(reader, ids[1]))
    items = [dataset[i] for i in range(len(dataset))]
    assert {tuple(item["pixel_values"].shape) for item in items} == {(3, 224, 224)}
    assert all(isinstance(item["aug_seeds"], int) for item in items)
    per_image = build_dataset(
        reader,
        ids,
        [0] * len(ids),
        Preprocessing.from_processor(CLIPImageProcessor()),
        train=True,
        augmentation="crop_flip",
        seed=0,
    )
    assert per_image.pixels is None and per_image[0]["pixel_values"].dtype == torch.float32


def test_no_recording_without_a_cache_or_a_fixed_size(tmp_path):
    from transformers import Siglip2ImageProcessor

    from har_finetune.data.datasets import scan_recorder

    assert scan_recorder(None, Preprocessing.from_processor(CLIPImageProcessor()), None) is None  # --no_pixel_cache
    assert scan_recorder(tmp_path, Preprocessing.from_processor(Siglip2ImageProcessor()), None) is None  # NaFlex
    assert isinstance(scan_recorder(tmp_path, Preprocessing.from_processor(CLIPImageProcessor()), None), ScanRecorder)


def test_fast_path_defaults(tmp_path):
    spec = parse_run(["--output_dir", str(tmp_path)], "clip")
    data_args = spec.data
    args = spec.training
    assert data_args.pixel_cache and args.per_device_eval_batch_size == 256
    assert args.optim == "adamw_torch_fused"  # fused AdamW on CUDA (and CPU)
    assert args.dataloader_persistent_workers == (args.dataloader_num_workers > 0)
    spec = parse_run(["--output_dir", str(tmp_path), "--dataloader_num_workers", "0"], "clip")
    args = spec.training
    assert not args.dataloader_persistent_workers  # torch refuses persistent workers without workers
    spec = parse_run(["--output_dir", str(tmp_path), "--no_pixel_cache"], "clip")
    data_args = spec.data
    assert not data_args.pixel_cache


def test_classifier_uses_sdpa_attention(tiny_checkpoints):
    from har_finetune.models.registry import load_classifier

    model, _ = load_classifier(tiny_checkpoints["clip"], ["a", "b"], seed=0)
    assert model.config._attn_implementation == "sdpa"


def test_trainer_normalises_uint8_batches_and_keeps_eval_loaders_apart(tmp_path, tiny_checkpoints):
    from transformers import AutoImageProcessor

    from har_finetune.models.registry import load_classifier
    from har_finetune.settings.arguments import HarTrainingArguments
    from har_finetune.training.trainer import HarTrainer

    processor = AutoImageProcessor.from_pretrained(tiny_checkpoints["clip"])
    model, _ = load_classifier(tiny_checkpoints["clip"], ["a", "b"], seed=0)
    args = HarTrainingArguments(output_dir=str(tmp_path), dataloader_num_workers=1, report_to="none")
    first, second = torch.utils.data.TensorDataset(torch.zeros(2)), torch.utils.data.TensorDataset(torch.ones(3))
    trainer = HarTrainer(model=model, args=args, eval_dataset=first, device_transform=DeviceTransform(processor))
    assert args.dataloader_persistent_workers
    assert trainer.get_eval_dataloader().dataset is first
    assert trainer.get_eval_dataloader(second).dataset is second  # stock Trainer would return `first`'s loader
    assert trainer.get_eval_dataloader().dataset is first
    batch = {
        "pixel_values": torch.full((2, 3, 32, 32), 255, dtype=torch.uint8),
        "labels": torch.tensor([0, 1]),
        "aug_seeds": [1, 2],
    }
    inputs = trainer._prepare_inputs(batch)
    assert set(inputs) == {"pixel_values", "labels"} and inputs["pixel_values"].dtype == torch.float32
    assert torch.allclose(inputs["pixel_values"][:, 0], torch.tensor((1 - 0.48145466) / 0.26862954))


def test_pages_dropped_behind_readers_and_builders_leave_the_pixels_intact(jpegs, tmp_path, monkeypatch):
    """Memory that scales: readers drop their mapped pages every RESIDENT_BYTES and builders after every CHUNK
    images; what comes back is the file's pixels (docs/performance.md, "Memory")."""
    reader, ids = jpegs
    hashes, clip = _hashes(reader, ids), ProcessorGeometry(CLIPImageProcessor())
    whole = cached_pixels(reader, ids, hashes, clip, tmp_path / "whole", workers=2)
    monkeypatch.setattr(pixel_files, "RESIDENT_BYTES", 1)  # drop before every image
    monkeypatch.setattr(pixel_files, "CHUNK", 3)
    chunked = cached_pixels(reader, ids, hashes, clip, tmp_path / "chunked", workers=2)
    assert all(torch.equal(chunked[i], whole[i]) for i in range(len(ids)))
    image = chunked[2]
    image.zero_()  # a private page, then dropped: the file's pixels come back
    chunked.drop_pages()
    assert torch.equal(chunked[2], whole[2])


def test_evaluation_caches_of_processors_differing_only_in_interpolation_are_apart(tmp_path):
    """A cache key without the interpolation once let two processors differing only in `resample` share a cache."""
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
