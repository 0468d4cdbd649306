"""The defaults and the names the command line chooses from, written once, in a module that imports nothing heavy:
`--help`, the flag checks, the data layer and the models all read them here.
"""

import os
from pathlib import Path

HAR_CLASSES = (
    "calling", "clapping", "cycling", "dancing", "drinking", "eating", "fighting", "hugging",
    "laughing", "listening_to_music", "running", "sitting", "sleeping", "texting", "using_laptop",
)  # fmt: skip

AUGMENTATIONS = ("none", "crop_flip", "randaugment", "trivialaugment")
HEADS = ("default", "zero_shot")
DEFAULT_CHECKPOINTS = {"clip": "openai/clip-vit-base-patch16", "siglip": "google/siglip-base-patch16-224"}
SCRIPT_FAMILIES = tuple(DEFAULT_CHECKPOINTS)  # fine_tune_har_<family>.py and .slurm (models/registry.py: model types)
DEFAULT_DATASET = "Bingsu/Human_Action_Recognition"
# HAR photos are small (often ~250x180) and show one person doing one thing; several phrasings average out wording.
DEFAULT_TEMPLATES = (
    "a photo of a person {}.",
    "a photo of a person who is {}.",
    "a photo of someone {}.",
    "a low resolution photo of a person {}.",
    "a cropped photo of a person {}.",
)


def bad_templates(templates: tuple[str, ...] | list[str]) -> list[str]:
    """Templates without exactly one '{}' for the class name."""
    return [t for t in templates if t.count("{}") != 1]


CACHE_ENV = "HAR_FINETUNE_CACHE"


def default_cache_dir() -> Path:
    """The pixel cache folder when --pixel_cache_dir is not given: $HAR_FINETUNE_CACHE, else $HF_HOME/har_finetune,
    else ~/.cache/har_finetune."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "har_finetune"
    return Path.home() / ".cache" / "har_finetune"
