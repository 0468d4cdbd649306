"""Near-duplicates: the scan's cost with and without the perceptual hash, the pair finding, and how well a
distance threshold tells near copies from distinct images.

    python benchmarks/near_duplicates.py                       # 12,600 HAR-sized JPEGs etc.: ~6 min on 2 cores
    python benchmarks/near_duplicates.py --images 2000 --pairs 12600 --distinct 600 --copies 100   # ~1 min

Prints three tables (docs/performance.md, "Near-duplicates"):
- scan: the decoding scan (data/scan.py, a run's first scan, all cores, no recorded scan) of `--images` generated
  HAR-sized JPEGs, bare (the decode check alone: the hash's largest share) and as a run does it (recording each
  image for the pixel store, CLIP's geometry), with the hash and with it replaced by a constant, alternated
  `--repeats` times (the best of each; CPU seconds of the process, which other jobs on the machine do not inflate);
- pairs: `close_pairs` on `--pairs` and 50,000 random 64-bit hashes (the work is the same for any hashes);
- threshold: on `--distinct` generated scenes (synthetic.distinct_scene, saved as JPEG quality 90), the pairs of
  distinct scenes within each distance (false groupings), and for `--copies` copies of each kind, the share farther
  than it (missed copies).
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from transformers import CLIPImageProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import har_sized_jpegs  # noqa: E402
from har_finetune.data import images  # noqa: E402
from har_finetune.data.cache import ScanRecorder  # noqa: E402
from har_finetune.data.images import decode_rgb  # noqa: E402
from har_finetune.data.near_duplicates import close_pairs, hamming, perceptual_hash  # noqa: E402
from har_finetune.data.preprocessing import Preprocessing  # noqa: E402
from har_finetune.data.scan import scan_dataset  # noqa: E402
from har_finetune.data.sources import FileReader  # noqa: E402
from har_finetune.data.synthetic import NEAR_COPY_KINDS, distinct_scene, near_copy  # noqa: E402
from har_finetune.data.transforms import train_storage  # noqa: E402

DISTANCES = (4, 6, 8, 10, 12, 14, 16)


def scan_cost(count: int, repeats: int) -> list[str]:
    """Wall and CPU seconds of the scan with and without the hash: bare (the decode check alone, the largest share
    the hash can take) and as a run does it (recording each decoded image for the pixel store)."""
    cores = len(os.sched_getaffinity(0))
    storage = train_storage(Preprocessing.from_processor(CLIPImageProcessor()))
    best = {}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "images"
        folder.mkdir()
        ids = har_sized_jpegs(folder, count, processes=cores)
        reader = FileReader(str(folder))
        scan_dataset(reader, ids[:64])  # warm: imports, first calls
        for _ in range(repeats):
            for scan in ("bare", "as a run does"):
                for name, hash_function in (("with the hash", perceptual_hash), ("without", lambda pixels: 0)):
                    images.perceptual_hash = hash_function
                    recorder = ScanRecorder(Path(work) / "cache", storage) if scan != "bare" else None
                    wall, cpu = time.perf_counter(), time.process_time()
                    scan_dataset(reader, ids, recorder=recorder)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    if recorder is not None:
                        recorder.discard()
                    old = best.get((scan, name), (float("inf"), float("inf")))
                    best[(scan, name)] = (min(old[0], wall), min(old[1], cpu))
        images.perceptual_hash = perceptual_hash
    lines = [f"scan: {count} HAR-sized JPEGs, {cores} cores, best of {repeats}", ""]
    lines += [
        "| scan | hash | wall s | images/s | CPU s | hash adds (wall) | hash adds (CPU) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (scan, name), (wall, cpu) in best.items():
        base = best[(scan, "without")]
        extra = f"{wall / base[0] - 1:+.1%} | {cpu / base[1] - 1:+.1%}" if name != "without" else "| "
        lines.append(f"| {scan} | {name} | {wall:.2f} | {count / wall:,.0f} | {cpu:.2f} | {extra} |")
    return lines + [""]


def pair_cost(counts: list[int]) -> list[str]:
    rng = np.random.default_rng(0)
    lines = ["pairs: close_pairs(hashes, 10), one process", "", "| hashes | pairs compared | s |", "|---:|---:|---:|"]
    for n in counts:
        hashes = rng.integers(0, 2**63, n, dtype=np.uint64) << np.uint64(1) | rng.integers(0, 2, n, dtype=np.uint64)
        start = time.perf_counter()
        close_pairs(hashes, 10)
        lines.append(f"| {n:,} | {n * (n - 1) // 2:,} | {time.perf_counter() - start:.2f} |")
    return lines + [""]


def _as_jpeg(image, quality: int):
    data = io.BytesIO()
    image.save(data, "JPEG", quality=quality)
    return decode_rgb(data.getvalue())


def _hash(image) -> int:
    return perceptual_hash(np.array(image))


def threshold_rates(distinct: int, copies: int) -> list[str]:
    rng = np.random.default_rng(0)
    sizes = [(int(rng.integers(230, 281)), int(rng.integers(165, 201))) for _ in range(distinct)]
    scenes = [_as_jpeg(distinct_scene(rng, size), 90) for size in sizes]
    hashes = np.array([_hash(scene) for scene in scenes], dtype=np.uint64)
    _, _, distance = close_pairs(hashes, max(DISTANCES))
    pairs = distinct * (distinct - 1) // 2
    missed = {}
    for kind in NEAR_COPY_KINDS:
        found = [hamming(hashes[k], _hash(_as_jpeg(*near_copy(scenes[k], kind, rng)))) for k in range(copies)]
        missed[kind] = np.array(found)
    header = f"| distance <= | distinct pairs grouped (of {pairs:,}) | " + " | ".join(
        f"{kind} missed" for kind in NEAR_COPY_KINDS
    )
    lines = [f"threshold: {distinct} distinct scenes, {copies} copies of each kind", "", header + " |"]
    lines.append("|---:|---:|" + "---:|" * len(NEAR_COPY_KINDS))
    for d in DISTANCES:
        cells = [f"{int((distance <= d).sum())} ({(distance <= d).sum() / pairs:.1e})"]
        cells += [f"{(missed[kind] > d).mean():.1%}" for kind in NEAR_COPY_KINDS]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12600, help="JPEGs scanned (default: HAR's 12,600)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, nargs="+", default=[12600, 50000], help="hash counts paired")
    parser.add_argument("--distinct", type=int, default=2000, help="distinct scenes for the threshold table")
    parser.add_argument("--copies", type=int, default=400, help="copies of each kind for the threshold table")
    args = parser.parse_args(argv)
    lines = scan_cost(args.images, args.repeats) + pair_cost(args.pairs)
    print("\n".join(lines + threshold_rates(args.distinct, args.copies)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
