"""Peak memory of the data side of a run, split into heap (RssAnon) and mapped file pages (RssFile), with and
without dropping the pages behind (issue 14, item 3).

    python benchmarks/memory.py                   # 6,000 generated HAR-sized JPEGs, ~2 min on 2 cores
    python benchmarks/memory.py --images 1500

Each setting runs in a fresh process on the same images and cache folder layout (a new cache dir each time):
the input scan (recording the pixel store), the store, evaluation caches for a quarter of the images (what
validation + test take), then one pass over every training image, as an epoch does. "kept" is the previous
behaviour (mapped pages stay resident), "dropped" the current one (readers drop their pages every
`RESIDENT_BYTES`, builders after every `CHUNK` images). Peaks are sampled every 5 ms from /proc/self/status.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_kib() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


class PeakSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}, True

    def run(self):
        while self.running:
            for key, value in rss_kib().items():
                self.peak[key] = max(self.peak[key], value)
            time.sleep(0.005)


def child(folder: Path, cache: Path, keep_pages: bool) -> dict:
    from transformers import CLIPImageProcessor

    from har_finetune.data import pixel_files
    from har_finetune.data.datasets import pixel_store, scan_recorder, scan_source
    from har_finetune.data.preprocessing import Preprocessing
    from har_finetune.data.sources import load_source
    from har_finetune.data.transforms import ProcessorGeometry

    if keep_pages:  # the previous behaviour
        pixel_files.RESIDENT_BYTES, pixel_files.CHUNK = 1 << 62, 1 << 62
        pixel_files.PixelCache.drop_pages = lambda self: None
    preprocessing = Preprocessing.from_processor(CLIPImageProcessor())
    source = load_source(str(folder))
    start = rss_kib()
    sampler = PeakSampler()
    sampler.start()
    phases, clock = {}, time.perf_counter()
    recorder = scan_recorder(cache, preprocessing, None)
    scans = scan_source(source, cache, recorder)
    store = pixel_store(source, scans, preprocessing, cache, None, recorder)
    phases["scan + store s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    evaluation = store.ids[: len(store.ids) // 4]
    store.evaluation(evaluation, ProcessorGeometry(preprocessing))
    phases["eval caches s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    training = store.training(store.ids)
    checksum = sum(int(training[i].max()) for i in range(len(training)))  # reads every pixel
    phases["epoch read s"] = time.perf_counter() - clock
    sampler.running = False
    sampler.join()
    store_bytes = sum(p.stat().st_size for p in store.cache.folder.glob("shard-*.u8"))
    return {"start": start, "peak": sampler.peak, "phases": phases, "store_bytes": store_bytes, "checksum": checksum}


def har_sized_jpegs(folder: Path, count: int) -> None:
    from har_finetune import HAR_CLASSES
    from har_finetune.data.synthetic import synthetic_image

    rng = random.Random(0)
    for i in range(count):
        name = folder / "train" / HAR_CLASSES[i % 15] / f"{i:05d}.jpg"
        name.parent.mkdir(parents=True, exist_ok=True)
        size = (rng.randrange(230, 281), rng.randrange(165, 201))  # HAR photos are about 250x180
        synthetic_image(i % 15, 15, rng, size).save(name, quality=90)


def _mb(kib: int) -> str:
    return f"{kib * 1024 / 1e6:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, cache, mode = args.child
        print(json.dumps(child(Path(folder), Path(cache), mode == "kept")))
        return
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "data"
        har_sized_jpegs(folder, args.images)
        print(f"{args.images} HAR-sized JPEGs; MB = 10^6 bytes")
        print("| pages | heap (RssAnon) peak MB | over start-up | file-backed (RssFile) peak MB | over start-up | "
              "store MB | scan + store s | eval caches s | epoch read s |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode in ("kept", "dropped"):
            command = [sys.executable, __file__, "--child", str(folder), str(Path(work) / f"cache-{mode}"), mode]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            facts = json.loads(result.stdout.strip().splitlines()[-1])
            peak, start, phases = facts["peak"], facts["start"], facts["phases"]
            print(
                f"| {mode} | {_mb(peak['RssAnon'])} | {_mb(peak['RssAnon'] - start['RssAnon'])} | "
                f"{_mb(peak['RssFile'])} | {_mb(peak['RssFile'] - start['RssFile'])} | "
                f"{facts['store_bytes'] / 1e6:,.0f} | "
                + " | ".join(f"{seconds:.1f}" for seconds in phases.values())
                + " |"
            )


if __name__ == "__main__":
    main()
