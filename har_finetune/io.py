"""Atomic file writes: a file that exists is complete (temporary file in the same folder, then rename)."""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def _atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data: object) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())

    _atomic_write(path, write)


def write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    _atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_text(path: str | os.PathLike, text: str) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text))
