"""What verifying the pixel cache's checksums costs (issue 19, item 1: at most 3% of a cached epoch at HAR sizes).

    python benchmarks/checksum_cost.py                  # 12,600 HAR-sized images (~1.7 GB in a temporary folder)
    python benchmarks/checksum_cost.py --images 2000    # quicker

Builds a pixel store of N images of HAR's size (~250x180, random pixels) with the real writer, then times, in this
process: verifying every file of it (data/checksums.py, what a run does once per process before the first batch)
with the page cache warm and with the store's pages dropped first (read from disk), for xxh3-128 (when `xxhash` is
installed) and blake2b-128 (the fallback); and the data side of one cached training epoch from the same store
(uint8 crops and flips in the loader, batches of 64, as the fast path feeds Trainer; no model step, so the ratio is
an upper bound: a real epoch also runs the model). Prints one table and the ratios.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPImageProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from har_finetune.data import checksums  # noqa: E402
from har_finetune.data.cache import PixelStore, verified  # noqa: E402
from har_finetune.data.datasets import Collator, build_dataset  # noqa: E402
from har_finetune.data.pixel_files import PixelCache, Writer, publish  # noqa: E402


def build_store(folder: Path, count: int) -> PixelCache:
    """`count` random HAR-sized images through the writer, published as a store folder."""
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    writer = Writer(folder.parent, "bench")
    entries = []
    for _ in range(count):
        height, width = int(rng.integers(170, 200)), int(rng.integers(230, 270))
        pixels = np.ascontiguousarray(np.roll(block, int(rng.integers(0, 300)), axis=1)[:height, :width])
        entries.append(writer.append(pixels, (height, width)))
    writer.close()
    hashes = [f"{i:032x}" for i in range(count)]
    publish(entries, hashes, "bench", folder, {writer.shard: writer.checksum})
    writer.discard()
    return PixelCache(folder)


def drop_pages(folder: Path) -> None:
    """Evict this folder's files from the page cache (only these files: nothing else on the machine)."""
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def warm_pages(folder: Path) -> None:
    """Read the folder's files once (the writer dropped its pages): what the page cache holds on a second run."""
    for path in folder.iterdir():
        with open(path, "rb") as f:
            while f.read(64 << 20):
                pass


def time_verify(folder: Path, count: int, cold: bool) -> float:
    checksums.forget()  # a new process: every file is read once
    drop_pages(folder) if cold else warm_pages(folder)
    start = time.perf_counter()
    assert verified(folder, count)
    return time.perf_counter() - start


def time_hash(folder: Path, kind: str, cold: bool, workers: int) -> float:
    """Verify the folder's files as `first_mismatch` does, with `kind` and `workers` threads."""
    records = {}
    for path in folder.iterdir():
        digest = checksums.BlockHasher(kind)
        digest.update(path.read_bytes())
        records[path] = digest.record()
    checksums.forget()
    drop_pages(folder) if cold else warm_pages(folder)
    start = time.perf_counter()
    assert checksums.first_mismatch(records, workers) is None
    return time.perf_counter() - start


def time_epoch(cache: PixelCache, batch_size: int) -> float:
    """One epoch of the fast path's training data side over every image of `cache`."""
    ids = [str(i) for i in range(len(cache))]
    store = PixelStore(cache, ids, [""] * len(ids), None, cache.folder.parent)
    dataset = build_dataset(None, ids, [0] * len(ids), CLIPImageProcessor(), train=True, augmentation="crop_flip",
                            seed=0, store=store)  # fmt: skip
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=Collator(), num_workers=0)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12_600, help="store size (HAR's labelled set: 12,600)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="har_checksum_") as scratch:
        folder = (args.work or Path(scratch)) / "store"
        folder.parent.mkdir(parents=True, exist_ok=True)
        cache = build_store(folder, args.images)
        size_gb = sum(p.stat().st_size for p in folder.iterdir()) / 1e9
        epoch = time_epoch(cache, args.batch_size)
        cores = max(1, min(len(os.sched_getaffinity(0)), 16))
        rows = [(f"as a run does: {checksums.CHECKSUM}, {cores} threads", cold, time_verify(folder, args.images, cold))
                for cold in (False, True)]  # fmt: skip
        kinds = ["blake2b128"] + (["xxh3_128"] if checksums.xxhash is not None else [])
        rows += [(f"{kind}, {threads} thread{'s' * (threads > 1)}", False, time_hash(folder, kind, False, threads))
                 for kind in kinds for threads in sorted({1, cores})]  # fmt: skip
    print(f"checksum cost: {args.images:,} HAR-sized images, store {size_gb:.2f} GB; torch threads "
          f"{torch.get_num_threads()}, cpus {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"cached epoch, data side (crop+flip, batches of {args.batch_size}): {epoch:.2f} s "
          f"({args.images / epoch:,.0f} img/s)")  # fmt: skip
    print("| what | pages | seconds | GB/s | of the epoch |\n|---|---|---:|---:|---:|")
    for name, cold, seconds in rows:
        pages = "dropped (disk)" if cold else "page cache"
        print(f"| {name} | {pages} | {seconds:.3f} | {size_gb / seconds:.1f} | {seconds / epoch:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
