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


def missing_path_message(flag: str, name: str | Path, what: str) -> str:
    """`--flag NAME: no such folder (/abs/NAME); the closest existing one is X; pass <what>` (a positional argument:
    `flag` "", the line starts with NAME)."""
    resolved = Path(name).expanduser().resolve()
    near = closest_existing(name)
    hint = f"; the closest existing one is {near}" if near else ""
    if near and near.is_file():  # a file is refused as well: name the folder that holds it
        hint = f"; the closest existing folder is {near.parent} (it holds {near.name})"
    return f"{f'{flag} ' if flag else ''}{name}: no such folder ({resolved}){hint}; pass {what}"


MODEL_WHAT = "a model folder (config.json and the weights) or a Hub id like openai/clip-vit-base-patch16"


def model_path_problem(name_or_path: str) -> str | None:
    """Why a local-looking `--model_name_or_path` (see looks_like_local_path) cannot be a model folder: it is missing
    ("no such folder", the closest name beside it) or a file; None for a folder or a Hub id. No Hub advice here."""
    path = Path(name_or_path).expanduser()
    if path.is_dir() or not looks_like_local_path(name_or_path):
        return None
    if path.is_file():
        return (
            f"--model_name_or_path {name_or_path} is a file; pass the folder that holds it and its config.json "
            f"({path.parent})"
        )
    return missing_path_message("--model_name_or_path", name_or_path, MODEL_WHAT)
