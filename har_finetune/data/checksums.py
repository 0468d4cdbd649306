"""Checksums of the cache's own files (pixel shards, their index, the recorded scan), recorded when each is written
and verified once per process and file before what it holds is used: bytes overwritten on a failing disk or by a
half-synced copy are caught, not trained on.

A file's record is "<kind>/<block bytes>:<digest>,<digest>,...": one digest per `BLOCK` bytes, so that verifying
spreads over every core (the hashes release the GIL): xxh3-128 when `xxhash` is installed, else blake2b-128 (the
GPU machine's image has no xxhash). benchmarks/checksum_cost.py measures what it costs.
"""

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from har_finetune.core.machine import worker_count

try:
    import xxhash

    CHECKSUM = "xxh3_128"
except ImportError:
    xxhash, CHECKSUM = None, "blake2b128"

BLOCK = 16 << 20  # bytes per digest: 1.7 GB of HAR store -> ~100 blocks to share among the cores
_verified: set[tuple[int, int, str]] = set()  # (device, inode, record) of files this process checked or wrote
_lock = threading.Lock()
_buffers = threading.local()


def hasher(kind: str = CHECKSUM):
    """A streaming hash of `kind` (`update`, `hexdigest`)."""
    if kind == "xxh3_128" and xxhash is not None:
        return xxhash.xxh3_128()
    if kind == "blake2b128":
        return hashlib.blake2b(digest_size=16)
    raise ValueError(f"checksum {kind} is not available here")


def checksum(data) -> str:
    """ "<kind>:<digest>" of bytes in memory (the recorded scan's columns)."""
    digest = hasher()
    digest.update(data)
    return f"{CHECKSUM}:{digest.hexdigest()}"


class BlockHasher:
    """The record of a file from the bytes written to it, in order (`update`), without reading it back."""

    def __init__(self, kind: str = CHECKSUM, block: int = BLOCK):
        self.kind, self.block, self.digests, self._filled = kind, block, [], 0
        self._hash = hasher(kind)

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            take = min(len(view), self.block - self._filled)
            self._hash.update(view[:take])
            self._filled, view = self._filled + take, view[take:]
            if self._filled == self.block:
                self.digests.append(self._hash.hexdigest())
                self._hash, self._filled = hasher(self.kind), 0

    def record(self) -> str:
        tail = [self._hash.hexdigest()] if self._filled or not self.digests else []
        return f"{self.kind}/{self.block}:{','.join(self.digests + tail)}"


def file_record(path: str | os.PathLike) -> str:
    """The record of a file as it is now (read once, in order)."""
    digest = BlockHasher()
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            digest.update(chunk)
    return digest.record()


def mark_verified(path: str | os.PathLike, record: str) -> None:
    """`path` was just written by this process as `record` says: no need to read it back."""
    with _lock:
        _verified.add(_key(path, record))


def first_mismatch(files: dict[Path, str], workers: int | None = None) -> Path | None:
    """The first of `files` (path -> record) whose bytes differ from its record, else None. Each file is read once
    per process (a hard link into another cache folder is the same file); its blocks are hashed on a thread pool.
    A record of a kind this machine cannot compute (xxh3 without xxhash) counts as a mismatch: rebuilt, not trusted.
    """
    todo = {}
    for path, record in files.items():
        try:
            key = _key(path, record)
        except OSError:
            return path
        with _lock:
            if key not in _verified:
                todo[path] = (key, record)
    jobs = [(path, record, i) for path, (_, record) in todo.items() for i in range(max(1, _blocks(path, record)))]
    workers = workers or worker_count()
    with ThreadPoolExecutor(workers) as pool:
        bad = {path for path, ok in zip((job[0] for job in jobs), pool.map(_block_matches, jobs)) if not ok}
    for path, (key, _) in todo.items():
        if path in bad:
            return path
        with _lock:
            _verified.add(key)
    return None


def forget() -> None:
    """Verify every file again (benchmarks and tests: what a new process does)."""
    with _lock:
        _verified.clear()


def _key(path: str | os.PathLike, record: str) -> tuple[int, int, str]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, record


def _parse(record: str) -> tuple[str, int, list[str]]:
    head, _, digests = record.partition(":")
    kind, _, block = head.partition("/")
    return kind, int(block), digests.split(",")


def _blocks(path: Path, record: str) -> int:
    try:
        return len(_parse(record)[2])
    except ValueError:
        return 1


def _block_matches(job: tuple[Path, str, int]) -> bool:
    path, record, index = job
    try:
        kind, block, digests = _parse(record)
        size = os.stat(path).st_size
        if len(digests) != max(1, -(-size // block)):
            return False
        buffer = getattr(_buffers, "data", None)
        if buffer is None or len(buffer) != block:
            buffer = _buffers.data = bytearray(block)
        with open(path, "rb", buffering=0) as f:
            read = os.preadv(f.fileno(), [buffer], index * block)
        digest = hasher(kind)
        digest.update(memoryview(buffer)[:read])
        return digest.hexdigest() == digests[index]
    except (OSError, ValueError):
        return False
