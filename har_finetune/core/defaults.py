"""Names the command line chooses from, in a module without torch: `--help` and flag checks import only this.

models.py, zero_shot.py and data/transforms.py import these, so each list is written once.
"""

import os

AUGMENTATIONS = ("none", "crop_flip", "randaugment", "trivialaugment")
HEADS = ("default", "zero_shot")
DEFAULT_CHECKPOINTS = {"clip": "openai/clip-vit-base-patch16", "siglip": "google/siglip-base-patch16-224"}
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


def available_cpus() -> int:
    """The CPUs this process may use (a Slurm allocation, taskset), not the machine's; macOS has no affinity call."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
