"""Which checkpoint to resume from, whether a run already finished, and what may be deleted after a fault.

Trainer writes `checkpoint-N/` in place, file by file, so a job killed while saving leaves a half-written folder, and
`transformers.trainer_utils.get_last_checkpoint` returns it anyway. Resuming from it then fails (truncated
`trainer_state.json` or weights, empty folder) or, worse, silently continues with a fresh optimizer (missing
`optimizer.pt`). `latest_complete_checkpoint` returns the newest checkpoint that passes every check below; keep
`save_total_limit >= 2` so that an older complete one survives next to the one being written.

Only DDP/single-device checkpoints are understood (DeepSpeed and FSDP keep optimizer state elsewhere).
Torch-free: it reads files only.
"""

import json
import logging
import re
import shutil
import struct
import zipfile
from pathlib import Path

from har_finetune.run_folder.files import RESULTS, TRAINER_STATE, read_json_or_none

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
INCOMPLETE_MARKER = "checkpoint-is-incomplete.txt"  # written by transformers' just-in-time checkpointing while saving
# torch.save files (zip archives: a truncated one has no central directory, so zipfile rejects it)
REQUIRED_TORCH_FILES = ("optimizer.pt", "scheduler.pt")


def run_is_finished(output_dir: str | Path) -> bool:
    """True when the run folder holds a readable `all_results.json`: the run finished and must not be retrained."""
    return read_json_or_none(Path(output_dir) / RESULTS) is not None


def checkpoint_epoch(checkpoint: str | Path | None) -> float:
    """Epochs already trained when `checkpoint` was saved (0 for no checkpoint: a fresh start)."""
    state = read_json_or_none(Path(checkpoint) / TRAINER_STATE) if checkpoint else None
    return float(state.get("epoch") or 0.0) if isinstance(state, dict) else 0.0


def numbered_checkpoints(output_dir: str | Path) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir`, newest (highest N) first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    steps = {p: int(m.group(1)) for p in output_dir.iterdir() if (m := CHECKPOINT_DIR.match(p.name)) and p.is_dir()}
    return sorted(steps, key=steps.get, reverse=True)


def latest_complete_checkpoint(output_dir: str | Path, warn_skipped: bool = True) -> str | None:
    """The newest `checkpoint-N` folder of `output_dir` that is safe to resume from, or None.

    Incomplete checkpoints are skipped, for training with a warning naming the problem (`warn_skipped`); a reader
    (status, a report) asks without resuming anything, so it is told nothing about resuming.
    """
    for path in numbered_checkpoints(output_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return str(path)
        if warn_skipped:
            logger.warning("Not resuming from %s: %s", path, problem)
    return None


def checkpoint_problem(checkpoint: str | Path) -> str | None:
    """Why `checkpoint` cannot be resumed from (a short sentence), or None when it is complete."""
    checkpoint = Path(checkpoint)
    if (checkpoint / INCOMPLETE_MARKER).exists():
        return f"{INCOMPLETE_MARKER} is present (the save was interrupted)"
    state = read_json_or_none(checkpoint / TRAINER_STATE)
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "trainer_state.json is missing, truncated or has no global_step"
    for name in REQUIRED_TORCH_FILES:
        path = checkpoint / name
        if not path.is_file() or path.stat().st_size == 0:
            return f"{name} is missing or empty"
        if not zipfile.is_zipfile(path):
            return f"{name} is truncated (not a complete torch.save archive)"
    return _weights_problem(checkpoint)


def _weights_problem(checkpoint: Path) -> str | None:
    index = checkpoint / "model.safetensors.index.json"
    if index.exists():
        weight_map = (read_json_or_none(index) or {}).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            return f"{index.name} is truncated"
        shards = sorted(set(weight_map.values()))
    elif (checkpoint / "model.safetensors").exists():
        shards = ["model.safetensors"]
    elif (checkpoint / "pytorch_model.bin").exists():
        ok = zipfile.is_zipfile(checkpoint / "pytorch_model.bin")
        return None if ok else "pytorch_model.bin is truncated"
    else:
        return "no model weights (model.safetensors or pytorch_model.bin)"
    for shard in shards:
        if not _safetensors_complete(checkpoint / shard):
            return f"{shard} is missing or truncated"
    return None


def _safetensors_complete(path: Path) -> bool:
    """Header parses and the file is exactly as long as the header says (8-byte length, JSON header, tensor data)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size - 8:
                return False
            header = json.loads(f.read(header_len))
    except (OSError, struct.error, ValueError):
        return False
    ends = [t["data_offsets"][1] for key, t in header.items() if key != "__metadata__"]
    return size == 8 + header_len + max(ends, default=0)


def explicit_checkpoint_problem(path: str | Path) -> str | None:
    """Why `--resume_from_checkpoint path` cannot be honoured (one sentence with the fix), or None."""
    path = Path(path)
    if not path.is_dir():
        return f"--resume_from_checkpoint {path}: no such folder; pass a checkpoint-N folder of a run, or drop the flag"
    problem = checkpoint_problem(path)
    if problem:
        return (
            f"--resume_from_checkpoint {path} is incomplete: {problem}; pass an older checkpoint-N folder, or drop "
            "the flag to resume from the run's newest complete checkpoint"
        )
    return None


def remove_incomplete_checkpoints(output_dir: str | Path) -> list[str]:
    """Delete the incomplete `checkpoint-N` folders newer than the newest complete one (the disk filled up).

    Never deletes the newest checkpoint whose model weights are complete when no older checkpoint has complete
    weights: without a resumable checkpoint, those weights are all that is left of the training.
    """
    newest_first = numbered_checkpoints(output_dir)
    removed = []
    for index, path in enumerate(newest_first):
        if checkpoint_problem(path) is None:
            break
        if _weights_problem(path) is None and not any(_weights_problem(p) is None for p in newest_first[index + 1 :]):
            logger.warning("keeping the incomplete %s: it holds the only complete model weights", path.name)
            break
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed
