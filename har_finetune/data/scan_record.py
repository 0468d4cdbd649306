"""The recorded scan: what the last input scan of a dataset found, so that the next run decodes only what changed.

    <cache dir>/scans/<dataset>.npz     one row per image: id, file stamp, file hash, validity, content hash, size,
                                         perceptual hash
    <cache dir>/scans/listing-<ids>.txt  names the record last written for a dataset with these ids (relative paths)

A dataset seen for the first time at its path (a copy on a node's local disk, a moved folder) starts from the
record of the last dataset with the same file list, if any: its files then match recorded ones by their bytes.

An image's recorded result (readable or why not, the content hash of its decoded pixels, its size, its perceptual
hash for the near-duplicate groups: data/near_duplicates.py) is reused when
- its file stamp is unchanged: size, mtime_ns, ctime_ns and inode from one `stat`, no read. The kernel sets ctime
  on every write, rename and `utime`, and a user cannot set it back: a file rewritten in place with the same size
  and mtime restored (`touch -d`) still changes ctime, and a file replaced by another gets a new inode; or
- failing that, the bytes of the file hash (xxh3-128 if `xxhash` is installed, else blake2b-128) to a recorded
  file hash: a dataset copied elsewhere (new inodes and ctimes), a renamed file, or a Hub-format row (Arrow rows
  have no stamp). Reading and hashing costs ~5% of a decode.
Anything else is decoded. The split's de-duplication keeps using the content hash of the decoded pixels (recorded,
not replaced by the file hash), so two files that decode to the same pixels are still one image. What is not
caught: a file whose bytes change while its size, mtime, ctime and inode all stay (a clock set back, or a file
system that does not keep ctime, such as some FUSE mounts); delete `<cache dir>/scans/` to decode everything.
The record is tied to Pillow's version (a new decoder may decode differently) and to the hash functions. It carries
a checksum of its columns (data/checksums.py): a record whose bytes changed since it was written is named in one
warning and not used (every image is decoded again, and the record rewritten).
"""

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL

from har_finetune.data.checksums import checksum, hasher
from har_finetune.data.images import ScanResult
from har_finetune.data.near_duplicates import PERCEPTUAL_HASH
from har_finetune.data.pixel_files import temporary_name

try:
    import xxhash

    FILE_HASH = "xxh3_128"
except ImportError:  # the GPU machine's image has no xxhash
    xxhash, FILE_HASH = None, "blake2b128"

logger = logging.getLogger(__name__)
RECORD_VERSION = 3  # 3: perceptual hashes; 2: a checksum of the columns
NO_STAMP = (-1, -1, -1, -1)


def file_hash(data: bytes) -> bytes:
    """16 bytes identifying a file's content (not its decoded pixels)."""
    if xxhash is not None:
        return xxhash.xxh3_128_digest(data)
    return hashlib.blake2b(data, digest_size=16).digest()


def file_stamp(path: str | Path) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def _identity() -> str:
    return json.dumps(
        {"version": RECORD_VERSION, "pillow": PIL.__version__, "file_hash": FILE_HASH, "perceptual": PERCEPTUAL_HASH}
    )


@dataclass
class Checked:
    """One image's scan with what identifies its file: reused (`decoded` False) or just decoded."""

    result: ScanResult
    stamp: tuple[int, int, int, int]
    file_hash: bytes  # b"" when the file could not be read
    decoded: bool


class ScanRecord:
    """The recorded scan of one dataset (empty when there is none, or it was made by another Pillow / format)."""

    def __init__(self, ids: list[str], checks: list[Checked]):
        self.ids, self.checks = ids, checks
        self._row = {image_id: i for i, image_id in enumerate(ids)}
        self._by_hash = None

    @classmethod
    def load_for(cls, path: Path, ids: list[str]) -> "ScanRecord":
        """The record at `path`; where there is none yet, that of the last dataset with the same `ids` (a copy or
        a move of this one: its files are recognised by their bytes)."""
        if path.exists():
            return cls.load(path)
        try:
            other = path.parent / _listing_pointer(path.parent, ids).read_text().strip()
        except OSError:
            return cls([], [])
        logger.info("no recorded scan of this dataset's path yet; starting from %s (the same file list)", other.name)
        return cls.load(other)

    def by_id(self, image_id: str) -> Checked | None:
        row = self._row.get(image_id)
        return None if row is None else self.checks[row]

    def by_file_hash(self, digest: bytes) -> Checked | None:
        if self._by_hash is None:  # built on the first miss: a run with unchanged stamps never needs it
            self._by_hash = {c.file_hash: c for c in self.checks if c.file_hash}
        return self._by_hash.get(digest)

    @classmethod
    def load(cls, path: Path) -> "ScanRecord":
        try:
            with np.load(path) as saved:
                saved = {key: saved[key] for key in saved.files}
        except FileNotFoundError:  # none yet: decode everything
            return cls([], [])
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            saved = None
        if saved is None or not _intact(saved):
            logger.warning("the recorded scan %s is damaged (checksum mismatch); decoding every image again", path)
            return cls([], [])
        if bytes(saved["identity"]).decode(errors="replace") != _identity():
            return cls([], [])  # made by another Pillow, hash function or record format
        ids = bytes(saved["ids"]).decode().split("\0") if len(saved["ids"]) else []
        errors = bytes(saved["errors"]).decode().split("\0")
        columns = [saved[k] for k in ("stamps", "file_hashes", "ok", "content", "sizes", "perceptual")]
        checks = [
            Checked(
                ScanResult(
                    bool(ok), content.tobytes().hex() if ok else "", int(size[0]), int(size[1]), error, int(perceptual)
                ),
                tuple(int(v) for v in stamp),
                digest.tobytes() if digest.any() else b"",
                False,
            )
            for stamp, digest, ok, content, size, perceptual, error in zip(*columns, errors)
        ]
        return cls(ids, checks)

    @staticmethod
    def save(path: Path, ids: list[str], checks: list[Checked]) -> None:
        """Written under a temporary name and renamed into place: concurrent writers leave one whole record."""
        path.parent.mkdir(parents=True, exist_ok=True)
        results = [c.result for c in checks]
        columns = {
            "identity": np.frombuffer(_identity().encode(), dtype=np.uint8),
            "ids": np.frombuffer("\0".join(ids).encode(), dtype=np.uint8),
            "errors": np.frombuffer("\0".join(r.error for r in results).encode(), dtype=np.uint8),
            "stamps": np.array([c.stamp for c in checks], dtype=np.int64).reshape(-1, 4),
            "file_hashes": _bytes16([c.file_hash for c in checks]),
            "ok": np.array([r.ok for r in results], dtype=bool),
            "content": _bytes16([bytes.fromhex(r.content_hash) for r in results]),
            "sizes": np.array([(r.width, r.height) for r in results], dtype=np.int32).reshape(-1, 2),
            "perceptual": np.array([r.perceptual_hash for r in results], dtype=np.uint64),
        }
        kind = checksum(b"").partition(":")[0].encode()
        columns["checksum_kind"] = np.frombuffer(kind, dtype=np.uint8)
        columns["checksum"] = np.frombuffer(_columns_checksum(columns, kind).encode(), dtype=np.uint8)
        temporary = path.with_name(f"{temporary_name(path.name)}.npz")
        try:
            np.savez(temporary, **columns)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        pointer = _listing_pointer(path.parent, ids)
        temporary = pointer.with_name(temporary_name(pointer.name))
        try:
            temporary.write_text(path.name)
            os.replace(temporary, pointer)
        finally:
            temporary.unlink(missing_ok=True)


def _listing_pointer(folder: Path, ids: list[str]) -> Path:
    digest = hashlib.blake2b("\0".join(ids).encode(), digest_size=16).hexdigest()
    return folder / f"listing-{digest}.txt"


def _intact(saved: dict[str, np.ndarray]) -> bool:
    """Do the columns match their checksum? (A record of an older format, without one, counts as intact: its
    identity differs, so it is not used.) A checksum this machine cannot compute (xxh3 without xxhash) counts as a
    match too: the identity names the hash function, so that record is not used either."""
    if "checksum" not in saved or "identity" not in saved:
        return "identity" in saved
    try:
        return bytes(saved["checksum"]).decode() == _columns_checksum(saved, bytes(saved["checksum_kind"]))
    except (KeyError, UnicodeDecodeError):
        return False
    except ValueError:  # hasher(): not available here
        return True


def _columns_checksum(columns: dict[str, np.ndarray], kind: bytes) -> str:
    """Of every column but the checksum itself: names, shapes and bytes, in name order."""
    digest = hasher(kind.decode())
    for key in sorted(set(columns) - {"checksum"}):
        column = np.ascontiguousarray(columns[key])
        digest.update(f"{key}{column.dtype.str}{column.shape}".encode())
        digest.update(column.tobytes())
    return f"{kind.decode()}:{digest.hexdigest()}"


def _bytes16(values: list[bytes]) -> np.ndarray:
    """16 bytes per value (b"" -> zeros) as an (n, 16) uint8 array."""
    return np.frombuffer(b"".join(v.ljust(16, b"\0") for v in values), dtype=np.uint8).reshape(-1, 16)
