"""Benchmark: the report's data path against ours, the model's train and eval steps, and a whole tiny-model run.

    python benchmarks/bench.py                    # CUDA if present: ViT-B/16 at batch 32 and 128, 8 workers
    python benchmarks/bench.py --device cpu       # small settings: about 2 minutes on 2 shared cores
    python benchmarks/bench.py --only data run    # some sections (data, models, run)

Nothing is downloaded: images are generated (HAR-sized JPEGs, ~250x180 px), models are built from their configs
with random weights (the real checkpoints' configurations: benchmarks/configs/). Measured tables and the machines
they came from: docs/performance.md.

1. data path: images/s delivered to the model (decode, augment, normalise, collate, on the device), same images,
   same batch size and loader workers, epochs interleaved so that load from other processes hits all alike:
   - report: the PIL-backend image processor per PIL image, `set_transform`-like (transformers 4's default);
   - stock: the same with today's default (torchvision-backed) processor;
   - ours: uint8 pixel cache (built during epoch 1), crop+flip in the workers, normalise on the device;
   - ours with the report's preprocessing (no augmentation): processor-exact pixels from the evaluation cache.
2. models: CLIP ViT-B/16 and SigLIP B/16 train step (AdamW, bf16 autocast on CUDA) and eval step, with MFU on
   CUDA (ViT-B/16: 17.6 GMACs forward = 35.2 GFLOP, x3 for training) and peak memory.
3. run (bench_run.py): `train.main` (our recipe) against the stock recipe (processor per image, `set_transform`-like,
   Trainer defaults) on a few hundred HAR-sized JPEGs with a tiny CLIP at 224 px, several epochs, same split.
"""

import argparse
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/bench.py`: the repository root

import torch
from transformers import AutoModelForImageClassification, CLIPImageProcessor, CLIPImageProcessorPil

from benchmarks.bench_run import bench_run
from benchmarks.common import PerImageProcessorDataset, device_name, har_sized_jpegs, model_config, stack_batch
from har_finetune.core.machine import available_cpus
from har_finetune.data.cache import ScanRecorder, open_store
from har_finetune.data.datasets import Collator, build_dataset
from har_finetune.data.images import scan_images
from har_finetune.data.sources import FileReader
from har_finetune.data.transforms import DeviceTransform, train_storage

# Dense bf16 peak, TFLOP/s, by device name (H100 SXM and H200 alike); --peak_tflops for others.
PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _epoch(loader, device: torch.device, finish=None) -> int:
    images = 0
    for batch in loader:
        pixels = batch["pixel_values"].to(device, non_blocking=True)
        pixels = finish(pixels) if finish else pixels
        images += len(pixels)
    _sync(device)
    return images


def _scan_and_store(reader, ids: list[str], storage, cache_dir: Path, threads: int):
    """(store, {threads: seconds of the plain input scan} for `threads` and for all cores (what a run uses),
    extra seconds to record the store during the scan and publish it)."""
    scans = {}
    for count in sorted({threads, available_cpus()}):
        start = time.perf_counter()
        scan_images(reader, ids, workers=count)  # what every run does anyway: the bad-input check
        scans[count] = time.perf_counter() - start
    start = time.perf_counter()
    recorder = ScanRecorder(cache_dir, storage)
    hashes = [scan.content_hash for scan in scan_images(reader, ids, workers=threads, on_image=recorder)]
    store = open_store(reader, ids, hashes, storage, cache_dir, "bench", recorder)
    return store, scans, max(time.perf_counter() - start - scans[threads], 0.0)


# Our data path twice: as run by default, and doing exactly the report's preprocessing (no augmentation: the
# processor's resize and centre crop, made once into the evaluation cache), the like-for-like comparison.
OURS = {
    "ours (default): uint8 cache, crop+flip, normalise": "crop_flip",
    "ours, the report's preprocessing (`--augmentation none`)": "none",
}


def bench_data(device: torch.device, count: int, epochs: int, batch: int, workers: int, work: Path) -> list[str]:
    folder, threads = work / "data_path", max(workers, 1)  # threads of our scan, like each path's processes
    ids = har_sized_jpegs(folder, count, processes=available_cpus())
    reader, processor = FileReader(str(folder)), CLIPImageProcessor()
    loader_args = dict(batch_size=batch, shuffle=True, num_workers=workers, pin_memory=device.type == "cuda")
    paths = {
        "report: PIL-backend processor per image": PerImageProcessorDataset(folder, ids, CLIPImageProcessorPil()),
        "stock: torchvision processor per image": PerImageProcessorDataset(folder, ids, processor),
    }
    loaders = {
        name: torch.utils.data.DataLoader(ds, collate_fn=stack_batch, **loader_args) for name, ds in paths.items()
    }
    for loader in loaders.values():  # untimed: first-call costs (imports, file cache) would count against them
        next(iter(loader))
    finish = DeviceTransform(processor)
    seconds = {name: [] for name in [*loaders, *OURS]}
    for epoch in range(epochs):
        for name, loader in loaders.items():
            start = time.perf_counter()
            _epoch(loader, device)
            seconds[name].append(time.perf_counter() - start)
        if epoch == 0:  # the input scan, which also records the store: counted in ours' epoch 1 below
            store, scans, record = _scan_and_store(reader, ids, train_storage(processor), work / "cache", threads)
        for name, augmentation in OURS.items():
            start = time.perf_counter()
            if epoch == 0:  # building the dataset counts too: for "none" it makes the evaluation cache
                dataset = build_dataset(
                    reader, ids, [0] * count, processor, train=True, augmentation=augmentation, seed=0, store=store
                )
                loaders[name] = torch.utils.data.DataLoader(
                    dataset, collate_fn=Collator(), persistent_workers=workers > 0, **loader_args
                )
            loaders[name].dataset.set_epoch(epoch)
            _epoch(loaders[name], device, finish)
            seconds[name].append(time.perf_counter() - start)
    # The scan decodes every image (and records the store): it is the first epoch's decode. Ours' rows count it as
    # a run does it, on all cores; one more row counts it on `threads` threads, the cores each other path had.
    loops = {name: seconds.pop(name) for name in OURS}
    all_cores, default = max(scans), next(iter(OURS))
    for name, loop in loops.items():
        seconds[name] = [loop[0] + record + scans[all_cores], *loop[1:]]
    if threads != all_cores:
        seconds[f"ours (default), the scan on {threads} thread{'s' if threads > 1 else ''} only"] = [
            loops[default][0] + record + scans[threads],
            *loops[default][1:],
        ]
    return _data_table(seconds, count, epochs, batch, workers, device, scans, record, loops[default][0])


def _data_table(seconds, count, epochs, batch, workers, device, scans, record, first_loop) -> list[str]:
    # epochs 2+: the median epoch, robust to a burst of load from other jobs, which costs a fast path's short
    # epochs proportionally more than a slow path's long ones
    rates = {name: (count / s[0], count / statistics.median(s[1:])) for name, s in seconds.items()}
    report = next(iter(rates.values()))
    lines = [
        f"data path: {count} HAR-sized JPEGs (~250x180), CLIP 224 px, batch {batch}, {workers} loader workers, "
        f"{epochs} epochs, {device_name(device)}",
        f"| path | epoch 1 img/s | epochs 2-{epochs}, median img/s | vs report, epoch 1 | vs report, epochs 2+ |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (first, later) in rates.items():
        lines.append(f"| {name} | {first:,.0f} | {later:,.0f} | {first / report[0]:.1f}x | {later / report[1]:.1f}x |")
    lines.append(
        "(ours' epoch 1 = the input scan, which every run does to check and de-duplicate the images and which "
        "decodes each once ("
        + ", ".join(f"{elapsed:.2f} s on {threads} thread(s)" for threads, elapsed in scans.items())
        + f"), + recording the pixel store during it ({record:.2f} s) + the epoch from the store "
        f"({count / first_loop:,.0f} img/s for the default path))"
    )
    return lines


def vit_b16(family: str, num_labels: int = 15, tiny: bool = False) -> torch.nn.Module:
    """The real checkpoint's vision tower (benchmarks/configs/) + a linear head, random weights; `tiny`: 16 wide."""
    config = model_config(family, tiny)
    config.num_labels = num_labels
    if family == "siglip":
        config.vision_config.vision_use_head = False  # as training uses it (models/registry.py: the head is unused)
    return AutoModelForImageClassification.from_config(config)


def forward_flops_per_image(vision_config, cls_token: bool) -> float:
    """2 x multiply-accumulates: patch embedding, then per layer QKV+output projections, attention, MLP."""
    d, f, layers = vision_config.hidden_size, vision_config.intermediate_size, vision_config.num_hidden_layers
    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    tokens = patches + int(cls_token)
    macs = patches * 3 * vision_config.patch_size**2 * d + layers * (
        4 * tokens * d * d + 2 * tokens * tokens * d + 2 * tokens * d * f
    )
    return 2.0 * macs


def _peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux; the process's peak RSS


def _time_steps(step, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def bench_model(
    family: str, device, batch: int, eval_batch: int, steps: int, warmup: int, compile_model: bool, tiny: bool = False
):
    """(train img/s, eval img/s, train peak memory GB, forward GFLOP per image) for one ViT-B/16 classifier."""
    torch.manual_seed(0)
    model = vit_b16(family, tiny=tiny).to(device)
    vision = model.config.vision_config
    finish = DeviceTransform(CLIPImageProcessor())
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    runner = torch.compile(model) if compile_model else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    images = torch.randint(0, 256, (batch, 3, vision.image_size, vision.image_size), dtype=torch.uint8, device=device)
    images = images.contiguous(memory_format=torch.channels_last)  # the layout our loader delivers (pixel cache)
    labels = torch.randint(0, 15, (batch,), device=device)

    def train_step():
        with autocast:
            loss = runner(pixel_values=finish(images), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # Trainer's default max_grad_norm
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model.train()
    train_seconds = _time_steps(train_step, steps, warmup, device)
    memory = _peak_memory_gb(device)
    eval_images = images[:1].expand(eval_batch, -1, -1, -1).contiguous(memory_format=torch.channels_last)

    def eval_step():
        with torch.inference_mode(), autocast:
            runner(pixel_values=finish(eval_images)).logits.float()

    model.eval()
    eval_seconds = _time_steps(eval_step, steps, warmup, device)
    return batch / train_seconds, eval_batch / eval_seconds, memory, forward_flops_per_image(vision, family == "clip")


def bench_models(
    device,
    batches: list[int],
    eval_batch: int,
    steps: int,
    warmup: int,
    compile_model: bool,
    peak_tflops: float | None,
    tiny: bool = False,
) -> Iterator[str]:
    """The table's lines, each as soon as it is measured (a time-boxed caller keeps the rows done so far)."""
    yield from [
        f"model steps: {'16-wide stand-ins for ' if tiny else ''}random-weight ViT-B/16 classifiers (15 classes), "
        "224 px, "
        f"{'bf16 autocast' if device.type == 'cuda' else 'fp32'}, fused AdamW, "
        f"{'torch.compile, ' if compile_model else ''}{steps} timed steps after {warmup}, {device_name(device)}",
        "| model | train batch | train img/s | eval batch | eval img/s | train MFU | peak memory GB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for family, name in (("clip", "CLIP ViT-B/16"), ("siglip", "SigLIP B/16")):
        for batch in batches:
            train, evaluate, memory, flops = bench_model(
                family, device, batch, eval_batch, steps, warmup, compile_model, tiny
            )
            mfu = f"{train * 3 * flops / (peak_tflops * 1e12):.0%}" if peak_tflops else "n/a"
            yield f"| {name} | {batch} | {train:,.1f} | {eval_batch} | {evaluate:,.1f} | {mfu} | {memory:.1f} |"
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if device.type != "cuda":
        yield "(peak memory on CPU: the process's peak resident set, all sections so far)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("data", "models", "run"),
        default=("data", "models", "run"),
        help="sections to run",
    )
    parser.add_argument("--images", type=int, help="data path: images (default 2048 on CUDA, 512 on CPU)")
    parser.add_argument("--epochs", type=int, default=6, help="data path: epochs (the first builds the cache)")
    parser.add_argument(
        "--workers",
        type=int,
        help="data path: loader workers (default min(8, cores-1) on CUDA, 0 on CPU: one core each)",
    )
    parser.add_argument("--batch_size", type=int, nargs="+", help="train batch sizes (default 32 128; CPU: 4)")
    parser.add_argument("--eval_batch_size", type=int, help="eval batch size (default 256; CPU: 8)")
    parser.add_argument("--steps", type=int, help="timed steps per measurement (default 20; CPU: 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 5; CPU: 1)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models (like --torch_compile)")
    parser.add_argument("--tiny_models", action="store_true", help="models: 16-wide stand-ins (CPU dry runs)")
    parser.add_argument("--peak_tflops", type=float, help="dense bf16 peak of the GPU, for MFU (default: by name)")
    parser.add_argument("--run_images_per_class", type=int, default=20, help="whole run: images per class (x15)")
    parser.add_argument("--run_epochs", type=int, default=6, help="whole run: epochs (the report's 6)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    defaults = dict(
        images=2048 if cuda else 512,
        workers=min(8, max(0, available_cpus() - 1)) if cuda else 0,
        batch_size=[32, 128] if cuda else [4],
        eval_batch_size=256 if cuda else 8,
        steps=20 if cuda else 2,
        warmup=5 if cuda else 1,
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def _peak(device: torch.device, explicit: float | None) -> float | None:
    if explicit or device.type != "cuda":
        return explicit
    name = torch.cuda.getdevice_name(device)
    return next((tflops for key, tflops in PEAK_TFLOPS.items() if key in name), None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="har_bench_")))
        work.mkdir(parents=True, exist_ok=True)
        sections = {
            "data": lambda: bench_data(device, args.images, args.epochs, 32, args.workers, work),
            "models": lambda: bench_models(
                device,
                args.batch_size,
                args.eval_batch_size,
                args.steps,
                args.warmup,
                args.compile,
                _peak(device, args.peak_tflops),
                args.tiny_models,
            ),
            "run": lambda: bench_run(device, args.run_images_per_class, args.run_epochs, work, device_name(device)),
        }
        for name in args.only:
            start = time.perf_counter()
            for line in sections[name]():
                print(line, flush=True)
            print(f"[{name}: {time.perf_counter() - start:.0f} s]\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
