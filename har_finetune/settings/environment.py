"""What a run needs from its surroundings, checked with the flags, before any data is read (one line each).

- the pixel cache folder must be writable: a read-only HF_HOME (a shared cache mounted read-only on compute nodes)
  otherwise fails after the image scan has started;
- every `--report_to` integration must be installed (Trainer would fail only after the scan);
- `--push_to_hub` needs the Hub: offline, nothing could be uploaded at the end of the run;
- the precision must be one this machine runs: without a GPU `--fp16` would train in fp32 while the records
  said fp16 (refused), and `--bf16` runs as bf16 autocast on the CPU (honoured, with a note saying so).
"""

import os
from pathlib import Path

from har_finetune.core.defaults import CACHE_ENV, default_cache_dir
from har_finetune.core.errors import UserError
from har_finetune.core.hub import hub_unreachable_reason, is_offline

PIP_NAMES = {"azure_ml": "azureml-core", "neptune": "neptune", "clearml": "clearml", "comet_ml": "comet_ml"}


def check_environment(pixel_cache: bool, pixel_cache_dir: str | None, training_args) -> list[str]:
    """Raise a `UserError` for what cannot work here; returns notes on what runs differently here than elsewhere."""
    if pixel_cache:
        check_cache_writable(Path(pixel_cache_dir) if pixel_cache_dir else None)
    check_report_to(training_args.report_to)
    if training_args.push_to_hub:
        check_push_to_hub()
    return [note for note in (check_precision(training_args),) if note]


def precision_in_use(training_args) -> str:
    """The precision the run really computes in (recorded in run_config.json and all_results.json): "bf16 autocast
    on cuda", "fp16 autocast on cuda", "bf16 autocast on cpu" or "fp32 on cpu" (accelerate ignores fp16 on a CPU)."""
    device = _device(training_args)
    if training_args.bf16:
        return f"bf16 autocast on {device}"
    if training_args.fp16 and device != "cpu":
        return f"fp16 autocast on {device}"
    return f"fp32 on {device}"


def check_precision(training_args) -> str | None:
    """--fp16 without a GPU is refused (accelerate would silently train in fp32); --bf16 there is honoured (CPU
    autocast) and the returned note says so. Only a precision given for this machine's run is checked: the choice
    made when none is given (parser._auto_precision) is always one the machine runs."""
    if _device(training_args) != "cpu":
        return None
    if training_args.fp16:
        raise UserError(
            "--fp16 needs a GPU, and this run has none: fp16 mixed precision (autocast with a loss scaler) would "
            "be skipped and the run would train in fp32; drop --fp16 to train in fp32, or pass --bf16 (bf16 autocast "
            "runs on CPUs)"
        )
    if training_args.bf16:
        return (
            "--bf16 without a GPU: training runs in bf16 autocast on the CPU (matrix products in bf16, weights "
            "in fp32); on CPUs without bf16 units it is slower than fp32"
        )
    return None


def _device(training_args) -> str:
    """Where Trainer will compute: "cuda", "mps" (Apple GPUs run fp16 autocast too) or "cpu"."""
    import torch  # loaded already by the parser; here only when asked

    if training_args.use_cpu:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


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
