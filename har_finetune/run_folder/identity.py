"""Run identity: the settings that define a run's result, recorded in `run_config.json` under "identity".

A rerun into a folder continues (or skips, when finished) the run recorded there, so it must be the same run:
the same model, data, split and training settings. `differences` compares a recorded identity with the current
one, key by key, over the keys both have (the identity is completed in stages as the run learns more: settings
first, then the model's revision, the dataset listing, and after the image scan the content fingerprint).

Settings that cannot change the result (logging, workers, evaluation batch size, `--report_to`, checkpoint
frequency, the pixel cache folder) are not part of it and may change between a run and its resumption.
Neither is the precision (`--bf16`, `--fp16`): the same command picks bf16 on a GPU that has it and fp32 on a CPU,
and the weights and optimizer state are fp32 either way, so a run started on a laptop continues on the cluster;
run_config.json and all_results.json record the precision each part really ran in.
"""

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

# Flags that define the result, per settings group (a flag absent from the group's dict is skipped).
MODEL_SETTINGS = ("model_name_or_path", "head", "prompt_templates")
DATA_SETTINGS = (
    "dataset",
    "image_column",
    "label_column",
    "split_seed",
    "near_duplicate_distance",
    "test_fraction",
    "validation_fraction",
    "augmentation",
    "max_train_samples",
    "max_eval_samples",
    "pixel_cache",
    "pixel_cache_resolution",
)
TRAINING_SETTINGS = (
    "seed",
    "data_seed",
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "lr_scheduler_type",
    "lr_scheduler_kwargs",
    "warmup_steps",
    "optim",
    "optim_args",
    "label_smoothing_factor",
    "eval_strategy",
    "eval_steps",
    "metric_for_best_model",
    "load_best_model_at_end",
    "linear_probe_epochs",
    "linear_probe_learning_rate",
    "layer_decay",
    "wise_ft_alpha",
)
# Keys that are not flags, and how a message names them.
DERIVED = {
    "world_size": "the number of training processes",
    "model_type": "the model type",
    "model_revision": "the model's files (revision)",
    "dataset_listing": "the dataset's list of images and labels",
    "class_names": "the class list",
    "dataset_fingerprint": "the dataset's image content",
}


def _plain(value: object) -> object:
    """JSON-normal form, so that a value read back from run_config.json compares equal to a fresh one."""
    return json.loads(json.dumps(value, default=str))


def settings_identity(model_args: dict, data_args: dict, training_args: dict) -> dict:
    """The defining flags from the three settings dicts (`vars(model_args)`, ..., `training_args.to_dict()`)."""
    identity = {}
    for group, names in ((model_args, MODEL_SETTINGS), (data_args, DATA_SETTINGS), (training_args, TRAINING_SETTINGS)):
        identity.update({name: _plain(group[name]) for name in names if name in group})
    if "dataset" in identity:
        identity["dataset"] = dataset_location(identity["dataset"])
    return identity


def dataset_location(dataset: str) -> str:
    """A local dataset as an absolute path (the same folder named two ways is one dataset); a Hub id as given."""
    path = Path(dataset).expanduser()
    return str(path.resolve()) if path.exists() else dataset


def model_revision(model_folder: str | Path) -> str:
    """The Hub commit of a cached snapshot (`.../snapshots/<commit>/`), else a hash of the folder's config and the
    names and sizes of its files (a local checkpoint rewritten in place is another model)."""
    folder = Path(model_folder).resolve()
    if folder.parent.name == "snapshots":
        return folder.name
    digest = hashlib.sha256()
    config = folder / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def listing_fingerprint(ids: Iterable[str], labels: Iterable[str], source_splits: Iterable[str]) -> str:
    """Which images, with which labels, from which source split: known before any image is decoded."""
    digest = hashlib.sha256()
    for row in zip(ids, labels, source_splits):
        digest.update("\t".join(row).encode() + b"\n")
    return digest.hexdigest()[:16]


def content_fingerprint(content_hashes: Iterable[str]) -> str:
    """The decoded content of every image, in listing order (unreadable images hash as empty)."""
    digest = hashlib.sha256()
    for content_hash in content_hashes:
        digest.update(content_hash.encode() + b"\n")
    return digest.hexdigest()[:16]


def recorded_identity(run_config: dict) -> dict:
    """The identity stored in a run_config.json; for folders written before identities were recorded, the defining
    flags of its saved settings."""
    if isinstance(run_config.get("identity"), dict):
        return run_config["identity"]
    groups = [run_config.get(key) or {} for key in ("model_args", "data_args", "training_args")]
    return settings_identity(*groups) if any(groups) else {}


DATA_KEYS = ("dataset_listing", "class_names", "dataset_fingerprint")  # what the data is, at the same --dataset


def changed_keys(recorded: dict, current: dict) -> list[str]:
    """The identity keys whose values differ, over the keys both identities have."""
    return [key for key in current if key in recorded and recorded[key] != current[key]]


def differences(recorded: dict, current: dict) -> list[str]:
    """One phrase per defining setting that differs, over the keys both identities have."""
    return [_describe(key, recorded[key], current[key]) for key in changed_keys(recorded, current)]


def _describe(key: str, was: object, now: object) -> str:
    if key in ("dataset_listing", "dataset_fingerprint", "model_revision"):
        return f"{DERIVED[key]} changed"
    return f"{DERIVED.get(key, '--' + key)} {_short(was)} -> {_short(now)}"


def _short(value: object) -> str:
    """Paths and numbers whole; long lists (prompt templates, class lists) cut to a readable length."""
    if not isinstance(value, list):
        return str(value)
    text = " | ".join(map(str, value))
    return text if len(text) <= 80 else text[:77] + "..."
