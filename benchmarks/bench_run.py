"""Section 3 of the benchmark (bench.py): a whole tiny-model run, ours against the stock recipe.

    python benchmarks/bench.py --only run        # ~20 s on a CPU
    python benchmarks/bench_run.py --stock DATA CHECKPOINT SPLIT_CSV OUT   # the stock recipe alone, 1 epoch (JSON)

A few hundred HAR-sized JPEGs in 15 classes and a tiny random CLIP that reads 224 px images (so that the run is
about the data path, as on a GPU where the model step is cheap), several epochs with evaluation every epoch, the
same split for both: `train.main` with its defaults, against the (report's) image processor per image in a
`set_transform`-like dataset and Trainer defaults.
"""

import contextlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/bench_run.py`: the repo root

import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, TrainingArguments

from benchmarks.common import PerImageProcessorDataset, har_sized_jpegs, stack_batch, tiny_clip_224
from har_finetune import HAR_CLASSES
from har_finetune.core.metrics import compute_metrics


def _run_ours(data: Path, checkpoint: Path, out: Path, epochs: int) -> float:
    from har_finetune.training.job import main as train_main

    argv = [
        "--dataset",
        str(data),
        "--model_name_or_path",
        str(checkpoint),
        "--output_dir",
        str(out),
        "--num_train_epochs",
        str(epochs),
        "--learning_rate",
        "1e-3",
        "--pixel_cache_dir",
        str(out.parent / "cache"),
        "--disable_tqdm",
        "True",
    ]
    start = time.perf_counter()
    assert train_main(argv, family="clip") == 0
    return time.perf_counter() - start


def run_stock(
    data: Path,
    checkpoint: Path,
    split_csv: Path,
    out: Path,
    epochs: float,
    learning_rate: float = 1e-3,
    test: bool = True,
) -> dict[str, float]:
    """The stock recipe on our split (`split_csv`): the report's (PIL-backend) image processor per image in a
        `set_transform`-like dataset, Trainer defaults (no loader workers, eval batch 8; bf16 on a GPU that has it, so
        that the model step is ours' and the difference is the data path). Wall-clock, train_runtime, test accuracy
    (`test`: else no test pass)."""
    import pandas as pd

    start = time.perf_counter()
    split, label = pd.read_csv(split_csv), {name: i for i, name in enumerate(HAR_CLASSES)}
    processor = AutoImageProcessor.from_pretrained(checkpoint, backend="pil")
    tables = {
        name: PerImageProcessorDataset(data, list(rows["id"]), processor, [label[x] for x in rows["label"]])
        for name, rows in split.groupby("split")
    }
    torch.manual_seed(42)
    model = AutoModelForImageClassification.from_pretrained(checkpoint, num_labels=len(HAR_CLASSES))
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=epochs,
        per_device_train_batch_size=32,
        learning_rate=learning_rate,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=True,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=tables["train"],
        eval_dataset=tables["validation"],
        data_collator=stack_batch,
        compute_metrics=compute_metrics,
    )
    train_seconds = trainer.train().metrics["train_runtime"]
    accuracy = trainer.evaluate(tables["test"], metric_key_prefix="test")["test_accuracy"] if test else float("nan")
    return {"wall": time.perf_counter() - start, "train_runtime": train_seconds, "test_accuracy": accuracy}


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors, so loggers made earlier too) to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield log
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def bench_run(device: torch.device, per_class: int, epochs: int, work: Path, device_name: str) -> list[str]:
    data, runs = work / "run_data", work / "runs"
    har_sized_jpegs(data / "train", per_class * len(HAR_CLASSES), seed=1, classes=HAR_CLASSES)
    checkpoint = tiny_clip_224(work / "tiny-clip-224")
    log_path = work / "run.log"
    with output_to(log_path):  # training logs and progress bars
        ours_seconds = _run_ours(data, checkpoint, runs / "ours", epochs)
        stock = run_stock(data, checkpoint, runs / "ours" / "split.csv", runs / "stock", epochs)
    results = json.loads((runs / "ours" / "all_results.json").read_text())
    ours = (ours_seconds, results["train_runtime"], results["test_accuracy"])
    row = "| {} | {:.1f} | {:.1f} | {:.3f} |"
    return [
        f"whole run: {per_class * len(HAR_CLASSES)} HAR-sized JPEGs, 15 classes, tiny CLIP at 224 px, {epochs} "
        f"epochs, evaluation every epoch, same split, {device_name} (log: {log_path})",
        "| recipe | wall-clock s | of which train_runtime s | test accuracy |",
        "|---|---:|---:|---:|",
        row.format("stock: processor per image, set_transform-like, Trainer defaults", *stock.values()),
        row.format("ours: `train.main` (scan, split, cache, train, evaluate, predict, run folder)", *ours),
        f"speed-up: {stock['wall'] / ours[0]:.1f}x the whole run, "
        f"{stock['train_runtime'] / ours[1]:.1f}x the training loop",
    ]


if __name__ == "__main__":  # the stock recipe alone, for one epoch (the GPU check runs it in a child with a time limit)
    if len(sys.argv) != 6 or sys.argv[1] != "--stock":
        raise SystemExit(__doc__)
    with output_to(Path(sys.argv[5] + ".log")):
        stock = run_stock(*map(Path, sys.argv[2:6]), epochs=1, test=False)
    stock["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    print(json.dumps(stock))
