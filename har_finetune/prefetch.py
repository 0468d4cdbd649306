"""Download what an offline compute node needs into the Hugging Face cache (run it on a login node with internet).

    python -m har_finetune.prefetch     # the default checkpoints (CLIP, SigLIP) and Bingsu/Human_Action_Recognition
    python -m har_finetune.prefetch --model google/siglip2-base-patch16-224 --dataset Bingsu/Human_Action_Recognition
    HF_HUB_OFFLINE=1 python fine_tune_har_clip.py ...   # then on the compute node, with the same HF_HOME

Models: configs, processor/tokenizer files and safetensors weights (not the TF/Flax copies some repositories hold).
"""

import argparse
import sys
from pathlib import Path

from har_finetune.core.cli import run_cli
from har_finetune.core.defaults import DEFAULT_CHECKPOINTS, DEFAULT_DATASET
from har_finetune.core.errors import UserError
from har_finetune.core.hub import check_hub_reachable, is_offline

MODEL_FILES = ["*.json", "*.txt", "*.model", "*.safetensors"]


def fetch_model(name: str) -> Path:
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(name, allow_patterns=MODEL_FILES))
    if not any(folder.glob("*.safetensors")):  # an older repository with PyTorch pickles only
        folder = Path(snapshot_download(name, allow_patterns=MODEL_FILES + ["pytorch_model*.bin"]))
    return folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m har_finetune.prefetch", description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", default=[], help="Hub model id (repeatable)")
    parser.add_argument("--dataset", action="append", default=[], help="Hub dataset id (repeatable)")
    args = parser.parse_args(argv)
    models, datasets_ = args.model, args.dataset
    if not models and not datasets_:
        models, datasets_ = list(DEFAULT_CHECKPOINTS.values()), [DEFAULT_DATASET]
    if is_offline():
        raise UserError(
            "HF_HUB_OFFLINE is set: nothing can be downloaded; run the prefetch without it, on a machine with internet"
        )
    for name in models:
        check_hub_reachable("model", name)
        print(f"model {name}: {fetch_model(name)}")
    for name in datasets_:
        import datasets

        check_hub_reachable("dataset", name)
        print(f"dataset {name}: {datasets.load_dataset(name)}")
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(lambda: main(sys.argv[1:]))


if __name__ == "__main__":
    cli()
