"""Evaluation-side normalisation on a CPU, idle and with another process spinning on one core (issue 14, item 4).

    python benchmarks/normalize_busy_cpu.py              # ~30 s; torch's default threads (one per core)
    python benchmarks/normalize_busy_cpu.py --batches 4

Prints images/s of `Normalize` (uint8 channels-last batches of 256 at 224x224, what evaluation feeds it) for the
previous code (the batch in 512 KiB blocks, three OpenMP regions per block, whatever the thread count) and the
current one (blocks only on one thread; the whole batch in three regions on several), each idle and with
`python -c 'while True: pass'` holding a core, and the slowdown ratio busy/idle in the same run.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import CLIPImageProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from har_finetune.data.preprocessing import Preprocessing  # noqa: E402
from har_finetune.data.transforms import CPU_BLOCK_BYTES, Normalize, _channels_last_rows  # noqa: E402


class PreviousNormalize(Normalize):
    """The code before the fix: 512 KiB blocks on a CPU whatever the thread count."""

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        source_rows = _channels_last_rows(pixels)
        interleaved = torch.empty(pixels.movedim(-3, -1).shape, dtype=torch.float32)
        rows = interleaved.view(source_rows.shape)
        mean, std = self._constants(pixels.device, rows.shape[-1])
        block = max(1, CPU_BLOCK_BYTES // (rows.shape[-1] * 4))
        for source, target in zip(source_rows.split(block), rows.split(block)):
            target.copy_(source).sub_(mean).div_(std)
        return interleaved.movedim(-1, -3)


def images_per_second(normalize, batch: torch.Tensor, batches: int) -> float:
    normalize(batch)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        normalize(batch)
    return batches * len(batch) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=3, help="timed batches of 256 per measurement")
    args = parser.parse_args()
    preprocessing = Preprocessing.from_processor(CLIPImageProcessor())
    batch = torch.randint(0, 256, (256, 3, 224, 224), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    versions = {"previous (512 KiB blocks)": PreviousNormalize(preprocessing), "current": Normalize(preprocessing)}
    assert torch.equal(versions["current"](batch), versions["previous (512 KiB blocks)"](batch))  # same floats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 256 x 3 x 224 x 224 uint8")
    print("| code | idle img/s | one core busy img/s | busy / idle |\n|---|---:|---:|---:|")
    for name, normalize in versions.items():
        idle = images_per_second(normalize, batch, args.batches)
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            busy = images_per_second(normalize, batch, args.batches)
        finally:
            spinner.kill()
            spinner.wait()
        print(f"| {name} | {idle:,.0f} | {busy:,.0f} | {busy / idle:.2f} |")


if __name__ == "__main__":
    main()
