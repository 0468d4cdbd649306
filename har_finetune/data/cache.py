"""Decoded-pixel cache: each image is decoded once, by the input scan that decodes every image anyway, into
memory-mapped uint8 files that every epoch and every later run on the same images reuses.

    <cache dir>/pixels/<geometry>-<key>/       one cache folder (its files: data/pixel_files.py)
    <cache dir>/pixels/<geometry>-<dataset>.last  names the store a dataset had last time
    <cache dir>/scans/<dataset>.npz           the recorded scan (data/scan_record.py)

The cache dir is --pixel_cache_dir, else $HAR_FINETUNE_CACHE, else $HF_HOME/har_finetune, else
~/.cache/har_finetune. A folder's key hashes the images' content hashes from the scan (a changed, added or removed
image gives a new key), their order and the stored geometry, so a stale cache is never read. Two kinds of folder:
- the store: every readable image of the dataset at the working resolution (shortest edge at most 256 for a
  224 model; HAR's ~250x180 photos stay untouched); training crops come from it. Its images come from the scan's
  recording (`ScanRecorder`, each rank its own share), else from the dataset's previous store (same content hash),
  else from a decode: a run where a few images changed decodes only those. 12,600 HAR photos: ~1.7 GB.
- evaluation caches: a split resized and cropped exactly like the image processor (224x224, 150 KB each), made
  from the store (or from the file, for images the store had to shrink).

With DDP, the local main process of each node builds inside `main_process_first`; the other ranks then open it.

Every folder is checked against the checksums recorded when its files were written (data/checksums.py), once per
process and file, before its pixels reach a batch: a file whose bytes changed since (a failing disk, a half-synced
copy) is named in one warning and its folder rebuilt from the images.
"""

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from har_finetune.data.pixel_files import (
    FORMAT_VERSION,
    PixelCache,
    Writer,
    hwc,
    publish,
    remove_dead_temporaries,
    write_all,
)

logger = logging.getLogger(__name__)
_tidied: set[Path] = set()  # cache dirs whose dead processes' temporaries this process removed


def _digest(*parts: str) -> str:
    digest = hashlib.blake2b(f"format{FORMAT_VERSION}".encode(), digest_size=16)
    for part in parts:
        digest.update(part.encode() + b"\n")
    return digest.hexdigest()


def _folder(cache_dir: str | Path, geometry_key: str, content_hashes: list[str]) -> Path:
    return Path(cache_dir) / "pixels" / f"{geometry_key}-{_digest(geometry_key, *content_hashes)}"


def cached_pixels(
    reader,
    ids: list[str],
    content_hashes: list[str],
    geometry,
    cache_dir: str | Path,
    workers: int | None = None,
    source: PixelCache | None = None,
) -> PixelCache:
    """Open the cache of `ids` stored with `geometry` (uint8 CHW -> uint8 CHW, with a `key`), building it first
    if needed: from `source` (their pixels in the store) where the store kept them untouched, else decoding."""
    if len(content_hashes) != len(ids):
        raise ValueError(f"{len(ids)} ids but {len(content_hashes)} content hashes")
    folder = _folder(cache_dir, geometry.key, content_hashes)
    tidy(cache_dir)
    if not verified(folder, len(ids)):
        writer = Writer(folder.parent, geometry.key)
        try:
            entries = write_all(writer, reader, ids, geometry, workers, source)
            writer.close()
            publish(entries, content_hashes, geometry.key, folder, {writer.shard: writer.checksum})
        finally:
            writer.discard()
        _check_rebuilt(folder, len(ids))
    return PixelCache(folder)


def tidy(cache_dir: str | Path) -> None:
    """Once per process and cache dir: remove what dead processes of this host left under construction there."""
    cache_dir = Path(cache_dir)
    if cache_dir not in _tidied:
        _tidied.add(cache_dir)
        for part in ("pixels", "scans"):
            remove_dead_temporaries(cache_dir / part)


def verified(folder: Path, count: int) -> bool:
    """Is `folder` a complete cache of `count` images whose files hold what was written? A damaged one is named in
    a warning and removed (its checksums are read once per process and file: data/checksums.py)."""
    if not PixelCache.is_complete(folder, count):
        return False
    damaged = PixelCache.damaged_file(folder)
    if damaged is None:
        return True
    logger.warning(
        "pixel cache file %s does not hold the bytes written there (checksum mismatch: a failing disk or a partial "
        "copy?); rebuilding it from the images",
        damaged,
    )
    shutil.rmtree(folder, ignore_errors=True)
    return False


def _check_rebuilt(folder: Path, count: int) -> None:
    if not verified(folder, count):
        raise OSError(f"pixel cache {folder} is incomplete or damaged right after it was built: is the disk failing?")


class ScanRecorder:
    """`scan_images(..., on_image=recorder)`: keeps each image the scan decodes, at the working resolution
    (`storage`), so that building the store costs no second decode. Under DDP each rank records its own share;
    `share()` describes it (picklable) and `add()` takes the other ranks' shares."""

    def __init__(self, cache_dir: str | Path, storage):
        self.storage, self.rows = storage, {}  # id -> (shard file, row)
        self.writer = Writer(Path(cache_dir) / "pixels", storage.key)
        self.checksums: dict[Path, str] = {}  # the other ranks' shards

    def __call__(self, image_id: str, pixels: np.ndarray) -> None:
        stored = hwc(self.storage(torch.from_numpy(pixels).permute(2, 0, 1)))
        self.rows[image_id] = self.writer.append(stored, pixels.shape[:2])

    def share(self) -> tuple[dict, dict]:
        """(id -> (shard, row), shard -> checksum) of what this process recorded."""
        self.writer.drop_written_pages()  # flushed: another process may link the shard now
        return dict(self.rows), {self.writer.shard: self.writer.checksum}

    def add(self, shared: tuple[dict, dict]) -> None:
        """What another process recorded (its `share()`); rows whose shard this process cannot see (another node's
        local cache dir) are left out, and the store decodes those images again."""
        rows, checksums = shared
        visible: dict[Path, bool] = {}
        for image_id, (shard, row) in rows.items():
            if visible.setdefault(shard, shard.is_file()):
                self.rows.setdefault(image_id, (shard, row))
        self.checksums.update(checksums)

    def all_checksums(self) -> dict[Path, str]:
        return {**self.checksums, self.writer.shard: self.writer.checksum}

    def discard(self) -> None:
        self.writer.discard()


def scan_record_file(cache_dir: str | Path, name: str) -> Path:
    """Where the recorded scan of dataset `name` (its folder or Hub id) lives."""
    return Path(cache_dir) / "scans" / f"{_digest(name)}.npz"


def _pointer(cache_dir: str | Path, storage, name: str) -> Path:
    return Path(cache_dir) / "pixels" / f"{storage.key}-{_digest(name)}.last"


def _previous_store(cache_dir: str | Path, storage, name: str) -> PixelCache | None:
    try:
        folder = Path(cache_dir) / "pixels" / _pointer(cache_dir, storage, name).read_text().strip()
    except OSError:
        return None
    return PixelCache(folder) if PixelCache.is_complete(folder) else None


@dataclass
class PixelStore:
    """Every readable image of a dataset at the working resolution, and what each split takes from it."""

    cache: PixelCache
    ids: list[str]
    content_hashes: list[str]
    reader: object
    cache_dir: Path

    def training(self, ids: list[str]) -> PixelCache:
        row = {image_id: i for i, image_id in enumerate(self.ids)}
        return self.cache.subset([row[image_id] for image_id in ids])

    def evaluation(self, ids: list[str], geometry) -> PixelCache:
        """`ids` resized and cropped by `geometry` (the processor's), made once from the store."""
        hashes = dict(zip(self.ids, self.content_hashes))
        return cached_pixels(
            self.reader, ids, [hashes[i] for i in ids], geometry, self.cache_dir, source=self.training(ids)
        )


def open_store(
    reader,
    ids: list[str],
    content_hashes: list[str],
    storage,
    cache_dir: str | Path,
    name: str,
    recorder: ScanRecorder | None = None,
) -> PixelStore:
    """The store of `ids` (the readable images, with the scan's content hashes) for dataset `name`: an existing
    complete one, else assembled from what the recorder holds, the dataset's previous store and, for the rest,
    a decoding pass."""
    folder = _folder(cache_dir, storage.key, content_hashes)
    tidy(cache_dir)
    try:
        if not verified(folder, len(ids)):
            reused, checksums = _reusable(ids, content_hashes, storage, cache_dir, name, recorder)
            _assemble(reader, ids, content_hashes, storage, folder, reused, checksums)
            if not verified(folder, len(ids)):  # it took a damaged shard from a recording or an earlier store
                _assemble(reader, ids, content_hashes, storage, folder, {}, {})
                _check_rebuilt(folder, len(ids))
    finally:
        if recorder is not None:
            recorder.discard()  # what was published is linked into the store
    _pointer(cache_dir, storage, name).write_text(folder.name)
    return PixelStore(PixelCache(folder), ids, content_hashes, reader, Path(cache_dir))


def _reusable(ids, content_hashes, storage, cache_dir, name, recorder) -> tuple[dict, dict[Path, str]]:
    """The images of the store that need no decode (id -> (shard, row)): recorded by the scan, else in the dataset's
    previous store under the same content hash; and the checksums recorded for their shards."""
    recorded, checksums = {}, {}
    if recorder is not None:
        recorder.writer.close()  # every byte on disk before its shard is linked and its size recorded
        recorded, checksums = recorder.rows, recorder.all_checksums()
    previous = _previous_store(cache_dir, storage, name)
    earlier = {h: i for i, h in enumerate(previous.content_hashes())} if previous else {}
    if previous:
        checksums = {**previous.checksums(), **checksums}
    entries = {}
    for image_id, content_hash in zip(ids, content_hashes):
        if image_id in recorded:
            entries[image_id] = recorded[image_id]
        elif content_hash in earlier:
            entries[image_id] = previous.entry(earlier[content_hash])
    return entries, checksums


def _assemble(reader, ids, content_hashes, storage, folder: Path, entries: dict, checksums: dict) -> None:
    """Publish the store of `ids` from the `entries` reused (their shards' `checksums`), decoding the rest."""
    writer = Writer(folder.parent, storage.key)
    try:
        for attempt in range(2):
            missing = [image_id for image_id in ids if image_id not in entries]
            if missing:
                logger.info("pixel store: decoding %d of %d images (not recorded before)", len(missing), len(ids))
                entries.update(zip(missing, write_all(writer, reader, missing, storage, None)))
            writer.close()
            try:
                sums = {**checksums, writer.shard: writer.checksum}
                return publish([entries[i] for i in ids], content_hashes, storage.key, folder, sums)
            except FileNotFoundError:  # a rank of another node removed its recording: it published this store
                if PixelCache.is_complete(folder, len(ids)):
                    return
                if attempt:
                    raise
                entries = {i: entry for i, entry in entries.items() if entry[0].is_file()}
                writer.discard()
                writer = Writer(folder.parent, storage.key)
    finally:
        writer.discard()
