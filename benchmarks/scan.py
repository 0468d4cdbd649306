"""The input scan: threads against processes for the decode, and what a second run costs with the recorded scan.

    python benchmarks/scan.py                 # 2,000 generated HAR-sized JPEGs, ~1 min on 2 cores
    python benchmarks/scan.py --images 6000

Prints images/s of: the decoding scan on 1 and on all cores' threads (what a run uses), the same decode on a
process pool (spawn and forkserver: never fork a process that runs torch threads; pool start-up counted, and
reported apart), and a second scan with the recorded scan (one `stat` per file) and one on a copy of the folder
(new inodes and ctimes: each file's bytes are read and hashed, nothing decoded).
"""

import argparse
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from har_finetune.data.images import SCAN_CHUNK, scan_images, scan_one  # noqa: E402
from har_finetune.data.scan import scan_dataset  # noqa: E402
from har_finetune.data.sources import FileReader  # noqa: E402
from har_finetune.data.synthetic import synthetic_image  # noqa: E402


def har_sized_jpegs(folder: Path, count: int) -> list[str]:
    rng = random.Random(0)
    for i in range(count):
        size = (rng.randrange(230, 281), rng.randrange(165, 201))  # HAR photos are about 250x180
        synthetic_image(i % 15, 15, rng, size).save(folder / f"{i:05d}.jpg", quality=90)
    return [f"{i:05d}.jpg" for i in range(count)]


def _scan_chunk(reader: FileReader, ids: list[str]) -> list:
    return [scan_one((reader, image_id)) for image_id in ids]


def process_scan(reader: FileReader, ids: list[str], workers: int, method: str) -> tuple[float, float]:
    """(seconds in all, seconds to start the pool) of the decoding scan on `workers` processes."""
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        list(pool.map(_scan_chunk, [reader] * workers, [[]] * workers))  # start-up: every worker imported
        started = time.perf_counter() - start
        chunks = [ids[i : i + SCAN_CHUNK] for i in range(0, len(ids), SCAN_CHUNK)]
        results = [r for chunk in pool.map(_scan_chunk, [reader] * len(chunks), chunks) for r in chunk]
    assert len(results) == len(ids)
    return time.perf_counter() - start, started


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as work:
        folder, copy = Path(work) / "data", Path(work) / "copy"
        folder.mkdir()
        ids = har_sized_jpegs(folder, args.images)
        reader, record = FileReader(str(folder)), Path(work) / "scan.npz"
        scan_images(reader, ids[:64], workers=1)  # warm: imports, first-call costs
        rows = {
            "threads, 1": timed(lambda: scan_images(reader, ids, workers=1)),
            f"threads, {cores} (a run's first scan)": timed(lambda: scan_images(reader, ids, workers=cores)),
        }
        for method in ("spawn", "forkserver"):
            total, started = process_scan(reader, ids, cores, method)
            rows[f"processes ({method}), {cores}, with the pool's start-up ({started:.1f} s)"] = total
            rows[f"processes ({method}), {cores}, without it"] = total - started
        scan_dataset(reader, ids, record, workers=cores)  # records the scan
        rows["second run: recorded scan, one stat per file"] = timed(lambda: scan_dataset(reader, ids, record))
        shutil.copytree(folder, copy)
        copied = FileReader(str(copy))
        rows["second run on a copy: file bytes hashed"] = timed(lambda: scan_dataset(copied, ids, record))
    base = rows["threads, 1"]
    print(f"{args.images} HAR-sized JPEGs, {cores} cores")
    print("| scan | s | images/s | vs 1 thread |\n|---|---:|---:|---:|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} | {args.images / seconds:,.0f} | {base / seconds:.1f}x |")


if __name__ == "__main__":
    main()
