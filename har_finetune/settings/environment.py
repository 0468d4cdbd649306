"""What a run needs from its surroundings, checked with the flags, before any data is read (one line each).

- the pixel cache folder must be writable: a read-only HF_HOME (a shared cache mounted read-only on compute nodes)
  otherwise fails after the image scan has started;
- every `--report_to` integration must be installed (Trainer would fail only after the scan);
- `--push_to_hub` needs the Hub: offline, nothing could be uploaded at the end of the run.
"""

import os
from pathlib import Path

from har_finetune.core.defaults import CACHE_ENV, default_cache_dir
from har_finetune.core.errors import UserError
from har_finetune.core.hub import hub_unreachable_reason, is_offline

PIP_NAMES = {"azure_ml": "azureml-core", "neptune": "neptune", "clearml": "clearml", "comet_ml": "comet_ml"}


def check_environment(pixel_cache: bool, pixel_cache_dir: str | None, training_args) -> None:
    if pixel_cache:
        check_cache_writable(Path(pixel_cache_dir) if pixel_cache_dir else None)
    check_report_to(training_args.report_to)
    if training_args.push_to_hub:
        check_push_to_hub()


def unwritable_reason(folder: Path) -> str | None:
    """Why `folder` could not be created or written ("<nearest existing folder> is read-only"), or None; creates
    nothing. A read-only filesystem is asked of the kernel: `os.access` says yes to root there."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    if not existing.is_dir():
        return f"{existing} is a file"
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        return f"{existing} is read-only"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check_output_dir_writable(output_dir: Path) -> None:
    """The run folder takes a lock and its records even when the run is finished: a read-only one is one line."""
    reason = unwritable_reason(output_dir)
    if reason and not (output_dir.exists() and not output_dir.is_dir()):  # a file: check_output_dir says so
        raise UserError(
            f"--output_dir {output_dir} cannot be written: {reason}; choose a writable --output_dir (to read a "
            "finished run, no training command is needed: plot_metrics.py reads it)"
        )


def check_cache_writable(cache_dir: Path | None) -> None:
    """The cache folder, or its nearest existing parent, must be writable (nothing is created here)."""
    folder = cache_dir or default_cache_dir()
    reason = unwritable_reason(folder)
    if reason:
        raise UserError(
            f"the pixel cache folder {folder} ({_cache_origin(cache_dir)}) cannot be written: {reason}; pass "
            "--pixel_cache_dir on a writable disk (e.g. local scratch) or --no_pixel_cache"
        )


def _cache_origin(cache_dir: Path | None) -> str:
    if cache_dir:
        return "--pixel_cache_dir"
    return (
        f"${CACHE_ENV}" if os.environ.get(CACHE_ENV) else "under $HF_HOME" if os.environ.get("HF_HOME") else "default"
    )


def check_report_to(report_to: list[str] | str | None) -> None:
    """Each `--report_to` name must be a transformers integration whose package is installed."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    names = [n for n in names if n not in ("none", "all")]
    available = set(get_available_reporting_integrations())
    for name in names:
        if name not in INTEGRATION_TO_CALLBACK:
            raise UserError(f"--report_to {name}: not an integration; choose from {', '.join(INTEGRATION_TO_CALLBACK)}")
        if name not in available:
            raise UserError(
                f"--report_to {name}: the {name} package is not installed; `pip install {PIP_NAMES.get(name, name)}`"
                " or leave --report_to out"
            )


def check_push_to_hub() -> None:
    later = (
        "train without --push_to_hub and upload the run folder from a machine with internet (`hf upload NAME RUN_DIR`)"
    )
    if is_offline():
        raise UserError(f"--push_to_hub needs the Hugging Face Hub, but HF_HUB_OFFLINE is set; {later}")
    reason = hub_unreachable_reason()
    if reason:
        raise UserError(f"--push_to_hub needs the Hugging Face Hub, which cannot be reached ({reason}); {later}")
