"""Checksums of the cache's own files (pixel shards, their index, the recorded scan), recorded when each is written
and verified once per process and file before what it holds is used: bytes overwritten on a failing disk or by a
half-synced copy are caught, not trained on.

xxh3-128 when `xxhash` is installed (~10 GB/s on one core, so the 1.7 GB HAR store costs ~0.2 s once per run), else
blake2b-128 (~1 GB/s; the GPU machine's image has no xxhash). benchmarks/checksum_cost.py measures it.
"""

import hashlib
import os
import threading
from pathlib import Path

try:
    import xxhash

    CHECKSUM = "xxh3_128"
except ImportError:
    xxhash, CHECKSUM = None, "blake2b128"

READ_BYTES = 8 << 20  # per read while verifying a file
_verified: set[tuple[int, int, str]] = set()  # (device, inode, checksum) of files this process checked or wrote
_lock = threading.Lock()


def hasher(kind: str = CHECKSUM):
    """A streaming hash of `kind` (`update`, `hexdigest`); records are "<kind>:<hex digest>"."""
    if kind == "xxh3_128" and xxhash is not None:
        return xxhash.xxh3_128()
    if kind == "blake2b128":
        return hashlib.blake2b(digest_size=16)
    raise ValueError(f"checksum {kind} is not available here")


def checksum(data) -> str:
    digest = hasher()
    digest.update(data)
    return f"{CHECKSUM}:{digest.hexdigest()}"


def file_checksum(path: str | os.PathLike, kind: str = CHECKSUM) -> str:
    digest, buffer = hasher(kind), bytearray(READ_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while size := f.readinto(buffer):
            digest.update(view[:size])
    return f"{kind}:{digest.hexdigest()}"


def _key(path: str | os.PathLike, recorded: str) -> tuple[int, int, str]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, recorded


def mark_verified(path: str | os.PathLike, recorded: str) -> None:
    """`path` was just written by this process with `recorded` as its checksum: no need to read it back."""
    with _lock:
        _verified.add(_key(path, recorded))


def matches(path: str | os.PathLike, recorded: str) -> bool:
    """Does `path` still hold what was written (its checksum `recorded`)? Read once per process and file (a hard
    link into another cache folder is the same file). A record of a kind this machine cannot compute (xxh3 without
    xxhash) reads as a mismatch: the cache is rebuilt rather than trusted."""
    try:
        key = _key(path, recorded)
    except OSError:
        return False
    with _lock:
        if key in _verified:
            return True
    kind = recorded.partition(":")[0]
    try:
        if file_checksum(path, kind) != recorded:
            return False
    except (OSError, ValueError):
        return False
    with _lock:
        _verified.add(key)
    return True


def forget() -> None:
    """Verify every file again (benchmarks and tests)."""
    with _lock:
        _verified.clear()


def checked_files(folder: Path, recorded: dict[str, str]) -> str | None:
    """The first file of `folder` whose bytes differ from its `recorded` checksum (name -> checksum), else None."""
    for name, value in recorded.items():
        if not matches(folder / name, value):
            return name
    return None
