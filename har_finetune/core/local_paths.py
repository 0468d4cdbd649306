"""Names that mean a local file or folder, and what to suggest when one is missing.

A Hub id is `name` or `owner/name`. Anything else a user types for a model or a dataset (`./x`, `../x`, `/x`,
`~/x`, `a/b/c`, `data/x` where `data/` exists here, `model.safetensors`) means a place on this machine: when it is
missing, "no such folder" (with the closest existing name beside it) is the truth, and advice about the Hub is not.
"""

import difflib
from pathlib import Path

# Files a user may pass instead of the folder that holds them; a Hub id never ends like this.
FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json", ".onnx", ".h5", ".msgpack", ".gguf", ".zip")


def looks_like_local_path(name: str) -> bool:
    """`./x`, `../x`, `/x`, `~/x`, more than one `/`, a first part that is an existing folder here, or a file name."""
    if name.startswith(("./", "../", "/", "~")) or name in (".", "..") or name.count("/") > 1:
        return True
    if name.lower().endswith(FILE_SUFFIXES):
        return True
    first = name.split("/")[0]
    return "/" in name and Path(first).expanduser().is_dir()


def closest_existing(path: str | Path) -> Path | None:
    """The existing entry nearest to a missing `path`: in the deepest folder of `path` that exists, the name
    closest to the first missing part (`./checkpoints/tiny_clp` -> `checkpoints/tiny_clip`); None when nothing there
    is close."""
    path = Path(path).expanduser()
    for parent in path.parents:  # a relative path ends with "."
        if parent.is_dir():
            missing = path.relative_to(parent).parts[0]
            names = [p.name for p in parent.iterdir() if not p.name.startswith(".")]
            close = difflib.get_close_matches(missing, names, n=1, cutoff=0.6)
            return parent / close[0] if close else None
    return None


def missing_path_message(flag: str, name: str, what: str) -> str:
    """`--flag NAME: no such folder (/abs/NAME); the closest existing one is X; pass <what>`."""
    resolved = Path(name).expanduser().resolve()
    near = closest_existing(name)
    hint = f"; the closest existing one is {near}" if near else ""
    return f"{flag} {name}: no such folder ({resolved}){hint}; pass {what}"
