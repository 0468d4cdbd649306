"""Run by tests/test_shared_scan.py, alone or under torchrun: the input scan and the pixel store as `train.main` does
them, then per rank: split.csv, how many images this process decoded in the scan and while building the store.

    python tests/helpers_shared_scan.py OUT_DIR --dataset D --model_name_or_path M --output_dir R --use_cpu True
"""

import hashlib
import json
import sys
from pathlib import Path

import torch.distributed as dist

from har_finetune.data import images, pixel_files, prepare
from har_finetune.data.datasets import pixel_store
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.models.registry import load_image_processor
from har_finetune.settings.parser import parse_run

COUNTS = {"scan": 0, "store": 0}


def _counting(module, key):
    original = module.decode_rgb

    def decode(data):
        COUNTS[key] += 1
        return original(data)

    module.decode_rgb = decode


def main(out: Path, argv: list[str]) -> None:
    _counting(images, "scan")
    _counting(pixel_files, "store")
    spec = parse_run(argv, "clip")
    training_args = spec.training  # initialises the process group, as in a run
    rank = dist.get_rank() if dist.is_initialized() else 0
    preprocessing = Preprocessing.from_processor(load_image_processor(spec.model.model_name_or_path))
    source = prepare.load_labelled(spec)
    scanned = prepare.scan_and_split(spec, source, preprocessing)
    with training_args.main_process_first(desc="pixel cache"):
        store = pixel_store(source, scanned.scans, preprocessing, prepare.cache_dir(spec), None, scanned.recorder)
    scanned.split.table.to_csv(out / f"split-{rank}.csv", index=False)
    pixels = hashlib.sha256()
    for i in range(len(store.cache)):
        pixels.update(store.cache[i].contiguous().numpy().tobytes())
    facts = {**COUNTS, "distributed": dist.is_initialized(), "store_pixels": pixels.hexdigest()}
    (out / f"counts-{rank}.json").write_text(json.dumps(facts))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
