"""The data layer's entry points, each taking the run's settings (`RunSpec`): what the training job calls.

    source = load_labelled(spec)                               # the listing: ids, labels, class names (no decoding)
    scanned = scan_and_split(spec, source, preprocessing)      # every image decode-checked, de-duplicated, split
    datasets = build_datasets(spec, source, scanned, preprocessing, processor_builds_batches)

Three steps, not one call, because the job checks the run folder's record between them (docs/run_folder.md): the
listing before the long scan, the decoded content before anything is written. Like timm's `resolve_data_config`
then `create_dataset`, or open_clip's `get_data`.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from har_finetune.core.defaults import default_cache_dir
from har_finetune.core.errors import UserError
from har_finetune.data.cache import ScanRecorder
from har_finetune.data.datasets import build_dataset, pixel_store, scan_recorder, scan_source
from har_finetune.data.labelled import LabelledImages
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.data.sources import load_source
from har_finetune.data.split import Split, make_split
from har_finetune.run_folder.files import SKIPPED
from har_finetune.run_folder.identity import listing_fingerprint
from har_finetune.settings.spec import RunSpec

logger = logging.getLogger("har_finetune")


@dataclass(frozen=True)
class ScannedData:
    """What the input scan found: the split, each image's scan result (listing order), and the recorder that holds
    the decoded pixels for the pixel store (None without a pixel cache)."""

    split: Split
    scans: list
    recorder: ScanRecorder | None


def load_labelled(spec: RunSpec) -> LabelledImages:
    """The dataset's listing (no image decoded); fewer than 2 classes is refused here, before the scan: a one-class
    classifier is right on every image (100% test accuracy) and learns nothing."""
    source = load_source(spec.data.dataset, spec.data.image_column, spec.data.label_column)
    if len(source.class_names) < 2:
        found = f"only {source.class_names[0]!r}" if source.class_names else "none"
        raise UserError(
            f"--dataset {spec.data.dataset} has {len(source.class_names)} class ({found}); a classifier needs at "
            "least 2: check the folder layout (train/<class>/*) or --label_column"
        )
    return source


def listing_identity(source: LabelledImages) -> dict:
    """What the run's identity records of the listing: which images with which labels, and the classes."""
    return {
        "dataset_listing": listing_fingerprint(source.ids, source.labels, source.source_splits),
        "class_names": list(source.class_names),
    }


def cache_dir(spec: RunSpec) -> Path | None:
    """The pixel cache folder, or None with --no_pixel_cache."""
    data = spec.data
    return Path(data.pixel_cache_dir or default_cache_dir()) if data.pixel_cache else None


def scan_and_split(spec: RunSpec, source: LabelledImages, preprocessing: Preprocessing) -> ScannedData:
    """Decode-check (and perceptually hash) every image changed since the recorded scan (the pixel cache keeps
    them), de-duplicate, group near-duplicates, split keeping each group on one side."""
    data = spec.data
    recorder = scan_recorder(cache_dir(spec), preprocessing, data.pixel_cache_resolution)
    try:
        scans = scan_source(source, cache_dir(spec), recorder)
    except BaseException:
        if recorder is not None:  # give the space back now: the disk may be what filled up
            recorder.discard()
        raise
    split = make_split(
        source,
        scans,
        data.test_fraction,
        data.validation_fraction,
        data.split_seed,
        data.max_unreadable_fraction,
        data.strict,
        data.near_duplicate_distance,
    )
    counts = split.table["split"].value_counts()
    logger.info(
        "split (%s test split): %s, %s, %s images, %d classes",
        split.test_source,
        _used(counts.get("train", 0), "train", data.max_train_samples, "--max_train_samples"),
        _used(counts.get("validation", 0), "validation", data.max_eval_samples, "--max_eval_samples"),
        _used(counts.get("test", 0), "test", data.max_eval_samples, "--max_eval_samples"),
        len(source.class_names),
    )
    log_skipped(split.skipped, len(source.ids), spec.run_dir / SKIPPED)
    return ScannedData(split, scans, recorder)


def _used(count: int, name: str, limit: int | None, flag: str) -> str:
    """`344 train` or, when a --max_*_samples flag takes fewer (build_datasets), `344 train (256 used,
    --max_train_samples)`."""
    return f"{count} {name}" + (f" ({limit} used, {flag})" if limit is not None and limit < count else "")


def log_skipped(skipped: pd.DataFrame, total: int, listing: Path, named_in_log: int = 20) -> None:
    """One warning for the images left out (unreadable, or duplicates with conflicting labels), naming the file that
    lists each with its reason; each is also named in the log while there are few."""
    if skipped.empty:
        return
    logger.warning(
        "skipped %d of %d images (unreadable, or copies with conflicting labels); each is listed with its reason in %s",
        len(skipped),
        total,
        listing,
    )
    if len(skipped) <= named_in_log:
        for image_id, reason in zip(skipped["id"], skipped["reason"]):
            logger.warning("skipped %s: %s", image_id, reason)


def build_datasets(
    spec: RunSpec,
    source: LabelledImages,
    scanned: ScannedData,
    preprocessing: Preprocessing,
    processor_builds_batches: bool,
) -> dict:
    """The train, validation and test datasets (`--max_*_samples` subsets: training by --seed, evaluation by
    --split_seed, so every --seed is scored on the same images)."""
    data, seed = spec.data, spec.training.seed
    label_index = {name: i for i, name in enumerate(source.class_names)}
    limits = {"train": data.max_train_samples, "validation": data.max_eval_samples, "test": data.max_eval_samples}
    store = pixel_store(
        source,
        scanned.scans,
        preprocessing,
        cache_dir(spec),
        data.pixel_cache_resolution,
        scanned.recorder,
        needed=not processor_builds_batches,
    )
    datasets = {}
    for name, limit in limits.items():
        subset_seed = seed if name == "train" else data.split_seed
        ids, labels = _subset(scanned.split.ids(name), scanned.split.labels(name), limit, subset_seed)
        datasets[name] = build_dataset(
            source.reader,
            ids,
            [label_index[x] for x in labels],
            preprocessing,
            train=name == "train",
            augmentation=data.augmentation,
            seed=seed,
            store=store,
            policy_on_device=torch.cuda.is_available(),
        )
    return datasets


def _subset(ids: list[str], labels: list[str], limit: int | None, seed: int) -> tuple[list[str], list[str]]:
    if limit is None or limit >= len(ids):
        return ids, labels
    keep = sorted(np.random.default_rng(seed).permutation(len(ids))[:limit])
    return [ids[i] for i in keep], [labels[i] for i in keep]
