"""The files of a pixel cache folder (data/cache.py says which folders exist and when they are built).

    <folder>/shard-<k>.u8  images back to back, uint8 HWC (the layout PIL decodes to and torch's fast uint8 resize
                           reads)
    <folder>/index.npy     one row per image: shard, byte offset, stored height and width, decoded height and width
    <folder>/hashes.npy    the images' content hashes (16 bytes each), so a later store can take rows from this one
    <folder>/meta.json     written last (its presence means the folder is complete): format, count, shards, bytes,
                           and the checksum of every other file (data/checksums.py), recorded as it was written

A folder is assembled under a temporary name from shard files, hard-linked (a new store reuses the shards of the
previous one and of every rank's recording without copying), then renamed into place, so concurrent builders never
see half a folder. A shard's checksum is computed while its images are appended (a shard linked from another folder
keeps the one recorded there), so no file is read back to checksum it; `damaged_file` is what cache.py checks,
once per process and file, before a folder's pixels reach a batch. Readers keep at most `RESIDENT_BYTES` of a
folder's pages mapped; builders drop the pages they read and write after every `CHUNK` images (docs/performance.md,
"Memory").
"""

import json
import logging
import mmap
import os
import re
import shutil
import socket
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from har_finetune.core.machine import worker_count
from har_finetune.data.checksums import BlockHasher, file_record, first_mismatch, mark_verified
from har_finetune.data.images import decode_rgb

logger = logging.getLogger(__name__)
FORMAT_VERSION = 5  # 5: checksums (4: shards and content hashes; 3: one file, HWC; 2: CHW)
RESIDENT_BYTES = 256 << 20  # pixels served by a reader before it drops its mapped pages (RSS bound per process)
CHUNK = 512  # images per step when a folder is built: the pages read and written are dropped after each
INDEX_COLUMNS = 6  # shard, offset, height, width, decoded height, decoded width


class PixelCache:
    """Read side: `cache[i]` is image i as a uint8 CHW tensor: a channels-last view of the mapped file, no copy.
    Picklable: each loader worker maps the files itself.

    After every `RESIDENT_BYTES` served, the mapped pages are dropped (madvise MADV_DONTNEED): file-backed RSS stays
    bounded however large the cache is (Slurm and `time -v` count those clean pages). A page read again comes back
    from the page cache, and the private mapping means no view ever wrote to the file, so the pixels are the same.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.index = np.load(self.folder / "index.npy")
        self.shards = [name for name, _ in json.loads((self.folder / "meta.json").read_text())["shards"]]
        self._maps, self._served = None, 0

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        shard, offset, height, width = (int(v) for v in self.index[i, :4])
        self._served += 3 * height * width
        if self._served > RESIDENT_BYTES:
            self.drop_pages()
        pixels = self._mapped(shard)[offset : offset + 3 * height * width]
        return torch.from_numpy(pixels).view(height, width, 3).permute(2, 0, 1)

    def _mapped(self, shard: int) -> np.ndarray:
        if self._maps is None:
            self._maps = {}
        if shard not in self._maps:
            with open(self.folder / self.shards[shard], "rb") as f:
                # copy-on-write: a writable mapping (torch refuses read-only arrays) whose writes never reach the file
                region = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
            self._maps[shard] = (region, np.frombuffer(region, dtype=np.uint8))
        return self._maps[shard][1]

    def drop_pages(self) -> None:
        for region, _ in (self._maps or {}).values():
            region.madvise(mmap.MADV_DONTNEED)
        self._served = 0

    def untouched(self, i: int) -> bool:
        """Stored as decoded (not shrunk to the working resolution)?"""
        return bool((self.index[i, 2:4] == self.index[i, 4:6]).all())

    def entry(self, i: int) -> tuple[Path, tuple[int, ...]]:
        """Where image i lies: (shard file, (offset, height, width, decoded height, decoded width))."""
        return self.folder / self.shards[int(self.index[i, 0])], tuple(int(v) for v in self.index[i, 1:])

    def checksums(self) -> dict[Path, str]:
        """shard file -> its recorded checksum."""
        recorded = json.loads((self.folder / "meta.json").read_text())["checksums"]
        return {self.folder / name: recorded[name] for name in self.shards}

    def content_hashes(self) -> list[str]:
        return [row.tobytes().hex() for row in np.load(self.folder / "hashes.npy")]

    def subset(self, rows: list[int]) -> "PixelCache":
        view = PixelCache.__new__(PixelCache)
        view.__dict__.update(self.__getstate__())
        view.index = self.index[np.asarray(rows, dtype=np.int64).reshape(-1)]
        return view

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": None, "_served": 0}

    @staticmethod
    def is_complete(folder: Path, count: int | None = None) -> bool:
        try:
            meta = json.loads((folder / "meta.json").read_text())
            sizes_ok = all((folder / name).stat().st_size == size for name, size in meta["shards"])
            return sizes_ok and meta["format"] == FORMAT_VERSION and count in (None, meta["count"])
        except (OSError, ValueError, KeyError):
            return False

    @staticmethod
    def damaged_file(folder: Path) -> Path | None:
        """The first file of complete `folder` whose bytes are not those written (its recorded checksum), else None."""
        try:
            recorded = json.loads((folder / "meta.json").read_text())["checksums"]
        except (OSError, ValueError, KeyError):
            return folder / "meta.json"
        return first_mismatch({folder / name: record for name, record in recorded.items()})


def temporary_name(name: str) -> str:
    """`name` under construction: host and pid say whose it is, so that a later run can remove a dead process's."""
    return f"{name}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


TEMPORARY = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}(\.npz)?$")


def remove_dead_temporaries(folder: Path) -> list[str]:
    """Remove what processes of this host that no longer run left under construction in `folder` (a SIGKILL while
    building a store, the OOM killer). Another host's are left alone: its processes cannot be seen from here."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    host = socket.gethostname()
    for path in entries:
        match = TEMPORARY.search(path.name)
        if match and match["host"] == host and not _running(int(match["pid"])):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    if removed:
        logger.info("removed %d temporary cache files of processes that no longer run: %s", len(removed), removed)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Writer:
    """Appends uint8 HWC images to one shard file under construction (thread-safe); the shard stays in a temporary
    folder until `publish` links it into a cache folder. Written pages are dropped from the page cache as it goes."""

    def __init__(self, parent: Path, name: str):
        self.folder = parent / temporary_name(name)
        self.folder.mkdir(parents=True)
        self.shard = self.folder / "shard.u8"
        self._out, self._lock, self._offset, self._dropped = open(self.shard, "wb"), threading.Lock(), 0, 0
        self._hash = BlockHasher()
        weakref.finalize(self, shutil.rmtree, self.folder, True)  # a run that stops before publishing leaves nothing

    def append(self, pixels: np.ndarray, decoded_size: tuple[int, int]) -> tuple[Path, tuple[int, ...]]:
        with self._lock:
            self._out.write(pixels.data)
            self._hash.update(pixels.data)
            row = (self._offset, pixels.shape[0], pixels.shape[1], *decoded_size)
            self._offset += pixels.nbytes
            if self._offset - self._dropped > RESIDENT_BYTES:
                self.drop_written_pages()
        return self.shard, row

    def drop_written_pages(self) -> None:
        """Start writing back what is written and drop it from the page cache (a memory cgroup counts it)."""
        self._out.flush()
        os.posix_fadvise(self._out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        self._dropped = self._offset

    @property
    def checksum(self) -> str:
        """The record (data/checksums.py) of what was appended so far."""
        with self._lock:
            return self._hash.record()

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()
            mark_verified(self.shard, self.checksum)  # what this process wrote needs no reading back

    def discard(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def publish(
    entries: list[tuple[Path, tuple[int, ...]]],
    content_hashes: list[str],
    geometry_key: str,
    folder: Path,
    checksums: dict[Path, str],
):
    """Assemble a cache folder from (shard file, row) per image: each distinct shard is hard-linked (copied where
    links are refused) into a temporary folder, then index, hashes and meta (last), then a rename into place; a
    complete folder from a concurrent builder wins. `checksums`: each shard file's, recorded when it was written."""
    staging = folder.parent / temporary_name(folder.name)
    staging.mkdir(parents=True)
    try:
        shards: dict[Path, int] = {}
        for path, _ in entries:
            if path not in shards:
                shards[path] = len(shards)
                _link(path, staging / f"shard-{shards[path]}.u8")
        index = np.array([(shards[path], *row) for path, row in entries], dtype=np.int64).reshape(-1, INDEX_COLUMNS)
        np.save(staging / "index.npy", index)
        hashes = np.frombuffer(b"".join(bytes.fromhex(h) for h in content_hashes), dtype=np.uint8)
        np.save(staging / "hashes.npy", hashes.reshape(len(content_hashes), -1))
        names = [(f"shard-{k}.u8", (staging / f"shard-{k}.u8").stat().st_size) for k in range(len(shards))]
        recorded = {f"shard-{k}.u8": checksums.get(path) or file_record(path) for path, k in shards.items()}
        for name in ("index.npy", "hashes.npy"):
            recorded[name] = file_record(staging / name)
            mark_verified(staging / name, recorded[name])
        meta = {"format": FORMAT_VERSION, "count": len(entries), "shards": names, "geometry": geometry_key}
        meta["checksums"] = recorded
        (staging / "meta.json").write_text(json.dumps(meta))
        if folder.exists() and not PixelCache.is_complete(folder, len(entries)):
            logger.warning("pixel cache %s is incomplete or damaged; replacing it", folder)
            shutil.rmtree(folder, ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("pixel cache %s: %d images, %.2f GB", folder, len(entries), sum(size for _, size in names) / 1e9)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links, or another device
        shutil.copyfile(source, target)


def uint8_chw(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> uint8 CHW, a channels-last view of Pillow's HWC pixels."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 CHW -> the HWC bytes the cache stores (no copy for channels-last views such as `uint8_chw`'s)."""
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


def write_all(writer: Writer, reader, ids: list[str], geometry, workers: int | None, source=None) -> list[tuple]:
    """`ids` through `geometry` into `writer`, in chunks of `CHUNK` images: after each, the pages of `source` read
    and of the shard written are dropped, so memory stays flat however many images there are."""

    def load(i: int) -> tuple[np.ndarray, tuple[int, int]]:
        if source is not None and source.untouched(i):
            image = source[i]
        else:
            image = uint8_chw(decode_rgb(reader(ids[i])))
        return hwc(geometry(image)), tuple(image.shape[1:])

    workers = workers or worker_count()
    entries = []
    with (
        ThreadPoolExecutor(workers) as pool,  # Pillow and torch release the GIL
        tqdm(total=len(ids), desc=f"caching {len(ids)} images", mininterval=2) as progress,
    ):
        for start in range(0, len(ids), CHUNK):
            chunk = range(start, min(start + CHUNK, len(ids)))
            entries += [writer.append(pixels, size) for pixels, size in pool.map(load, chunk)]
            if source is not None:
                source.drop_pages()
            writer.drop_written_pages()
            progress.update(len(chunk))
    return entries
