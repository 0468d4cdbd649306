"""Decoded-pixel cache: each image is decoded once, by the input scan that decodes every image anyway, into a
memory-mapped uint8 file that every epoch and every later run on the same images reuses.

    <cache dir>/pixels/<geometry>-<key>/
        pixels.u8   images back to back, uint8 HWC (the layout PIL decodes to and torch's fast uint8 resize reads)
        index.npy   one row per image: byte offset, stored height and width, decoded height and width
        meta.json   written last (its presence means the folder is complete): count, bytes, geometry, key

The cache dir is --pixel_cache_dir, else $HAR_FINETUNE_CACHE, else $HF_HOME/har_finetune, else ~/.cache/har_finetune.
The key hashes the images' content hashes from the scan (a changed, added or removed image gives a new key),
their order and the stored geometry, so a stale cache is never read. Two kinds of folder:
- the store: every readable image of the dataset at the working resolution (shortest edge at most 256 for a
  224 model; HAR's ~250x180 photos stay untouched), filled during the scan by `ScanRecorder`; training crops
  come from it. 12,600 HAR photos at ~135 KB -> ~1.7 GB.
- evaluation caches: a split resized and cropped exactly like the image processor (224x224, 150 KB each), made
  from the store (or from the file, for images the store had to shrink).

Folders are built under a temporary name and renamed into place, so concurrent builders (two jobs, or ranks that
did not wait) never see half a cache; with DDP, rank 0 records and builds inside `main_process_first` and the
other ranks then open what it made.
"""

import copy
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..choices import available_cpus
from .images import decode_rgb

logger = logging.getLogger(__name__)
FORMAT_VERSION = 3  # 3: HWC images (2 was CHW)
CACHE_ENV = "HAR_FINETUNE_CACHE"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "har_finetune"
    return Path.home() / ".cache" / "har_finetune"


def _digest(*parts: str) -> str:
    digest = hashlib.blake2b(f"format{FORMAT_VERSION}".encode(), digest_size=16)
    for part in parts:
        digest.update(part.encode() + b"\n")
    return digest.hexdigest()


def _folder(cache_dir: str | Path, geometry_key: str, content_hashes: list[str]) -> Path:
    return Path(cache_dir) / "pixels" / f"{geometry_key}-{_digest(geometry_key, *content_hashes)}"


class PixelCache:
    """Read side: `cache[i]` is image i as a uint8 CHW tensor: a channels-last view of the mapped file, no copy.
    Picklable: each loader worker maps the file itself."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.index = np.load(self.folder / "index.npy")
        self._pixels = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self._pixels is None:
            # copy-on-write: a writable mapping (torch refuses read-only arrays) whose writes never reach the file
            self._pixels = np.memmap(self.folder / "pixels.u8", dtype=np.uint8, mode="c")
        offset, height, width = (int(v) for v in self.index[i, :3])
        hwc = torch.from_numpy(self._pixels[offset : offset + 3 * height * width]).view(height, width, 3)
        return hwc.permute(2, 0, 1)

    def untouched(self, i: int) -> bool:
        """Stored as decoded (not shrunk to the working resolution)?"""
        return bool((self.index[i, 1:3] == self.index[i, 3:5]).all())

    def subset(self, rows: list[int]) -> "PixelCache":
        view = copy.copy(self)
        view.index, view._pixels = self.index[np.asarray(rows, dtype=np.int64).reshape(-1)], None
        return view

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}

    @staticmethod
    def is_complete(folder: Path, count: int | None = None) -> bool:
        try:
            meta = json.loads((folder / "meta.json").read_text())
            size_ok = (folder / "pixels.u8").stat().st_size == meta["bytes"]
            return size_ok and count in (None, meta["count"])
        except (OSError, ValueError, KeyError):
            return False


class _Writer:
    """Appends uint8 HWC images to a folder under construction (thread-safe); `finish` writes index and meta."""

    def __init__(self, parent: Path, name: str):
        self.folder = parent / f"{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True)
        self._out, self._lock, self._offset = open(self.folder / "pixels.u8", "wb"), threading.Lock(), 0
        weakref.finalize(self, shutil.rmtree, self.folder, True)  # a run that stops before publishing leaves nothing

    def append(self, pixels: np.ndarray, decoded_size: tuple[int, int]) -> tuple[int, ...]:
        with self._lock:
            self._out.write(pixels.data)
            row = (self._offset, pixels.shape[0], pixels.shape[1], *decoded_size)
            self._offset += pixels.nbytes
        return row

    def publish(self, rows: list[tuple[int, ...]], geometry_key: str, folder: Path) -> None:
        """Index and meta (last), then rename into place; a complete folder from a concurrent builder wins."""
        self._out.close()
        np.save(self.folder / "index.npy", np.array(rows, dtype=np.int64).reshape(-1, 5))
        meta = {"format": FORMAT_VERSION, "count": len(rows), "bytes": self._offset, "geometry": geometry_key}
        (self.folder / "meta.json").write_text(json.dumps(meta))
        if folder.exists() and not PixelCache.is_complete(folder, len(rows)):
            logger.warning("pixel cache %s is incomplete or damaged; replacing it", folder)
            shutil.rmtree(folder, ignore_errors=True)
        try:
            self.folder.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
        logger.info("pixel cache %s: %d images, %.2f GB", folder, len(rows), self._offset / 1e9)

    def discard(self) -> None:
        self._out.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _uint8(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> uint8 CHW, a channels-last view of Pillow's HWC pixels."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def _hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 CHW -> the HWC bytes the cache stores (no copy for channels-last views such as `_uint8`'s)."""
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


class ScanRecorder:
    """`scan_images(..., on_image=recorder)`: keeps each image the scan decodes, at the working resolution
    (`storage`), so that building the store costs no second decode."""

    def __init__(self, cache_dir: str | Path, storage):
        self.storage, self.rows = storage, {}
        self.writer = _Writer(Path(cache_dir) / "pixels", storage.key)

    def __call__(self, image_id: str, pixels: np.ndarray) -> None:
        stored = _hwc(self.storage(torch.from_numpy(pixels).permute(2, 0, 1)))
        self.rows[image_id] = self.writer.append(stored, pixels.shape[:2])


def should_record(cache_dir: str | Path, storage, name: str, ids: list[str]) -> bool:
    """False when the store last made for these ids still exists: the scan then only has to confirm its key."""
    folder = _last_store(cache_dir, storage, name, ids)
    return not (folder and PixelCache.is_complete(folder))


def _pointer(cache_dir: str | Path, storage, name: str, ids: list[str]) -> Path:
    return Path(cache_dir) / "pixels" / f"{storage.key}-{_digest(name, *ids)}.last"


def _last_store(cache_dir, storage, name: str, ids: list[str]) -> Path | None:
    try:
        return Path(cache_dir) / "pixels" / _pointer(cache_dir, storage, name, ids).read_text().strip()
    except OSError:
        return None


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
    """The store of `ids` (the readable images, with the scan's content hashes): an existing complete one, else
    the recorder's pixels, else a decoding pass (the dataset changed since the store this scan expected)."""
    folder = _folder(cache_dir, storage.key, content_hashes)
    if recorder is not None:
        if not PixelCache.is_complete(folder, len(ids)) and all(i in recorder.rows for i in ids):
            recorder.writer.publish([recorder.rows[i] for i in ids], storage.key, folder)
        recorder.writer.discard()  # nothing left to remove once published
    cache = cached_pixels(reader, ids, content_hashes, storage, cache_dir)
    _pointer(cache_dir, storage, name, ids).write_text(cache.folder.name)
    return PixelStore(cache, ids, content_hashes, reader, Path(cache_dir))


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
    if not PixelCache.is_complete(folder, len(ids)):
        writer = _Writer(folder.parent, geometry.key)
        try:
            rows = _write_all(writer, reader, ids, geometry, workers, source)
            writer.publish(rows, geometry.key, folder)
        finally:
            writer.discard()
    return PixelCache(folder)


def _write_all(writer: _Writer, reader, ids: list[str], geometry, workers: int | None, source) -> list[tuple]:
    def load(i: int) -> tuple[np.ndarray, tuple[int, int]]:
        if source is not None and source.untouched(i):
            image = source[i]
        else:
            image = _uint8(decode_rgb(reader(ids[i])))
        return _hwc(geometry(image)), tuple(image.shape[1:])

    workers = workers or max(1, min(available_cpus(), 16))
    with ThreadPoolExecutor(workers) as pool:  # Pillow and torch release the GIL
        jobs = tqdm(pool.map(load, range(len(ids))), total=len(ids), desc=f"caching {len(ids)} images", mininterval=2)
        return [writer.append(pixels, size) for pixels, size in jobs]
