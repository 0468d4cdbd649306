"""The stock recipe, as the benchmark (bench.py) runs it, and section 3: a whole tiny-model run, ours against it.

    python -m har_finetune.bench --only run        # ~20 s on a CPU

A few hundred HAR-sized JPEGs in 15 classes and a tiny random CLIP that reads 224 px images (so that the run is
about the data path, as on a GPU where the model step is cheap), several epochs with evaluation every epoch, the
same split for both: `train.main` with its defaults, against `set_transform` with the (report's) image processor
per image and Trainer defaults.
"""

import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

import datasets
import torch
from transformers import (
    CLIPConfig,
    CLIPForImageClassification,
    CLIPImageProcessor,
    CLIPImageProcessorPil,
    CLIPModel,
    Trainer,
    TrainingArguments,
)

from . import HAR_CLASSES
from .metrics import compute_metrics
from .synthetic import synthetic_image


def har_sized_jpegs(folder: Path, count: int, seed: int = 0, classes: tuple[str, ...] = ()) -> list[str]:
    """`count` JPEGs of about 250x180 px (the HAR photos' size), class-coloured; ids relative to `folder`."""
    rng, ids = random.Random(seed), []
    for i in range(count):
        label = i % max(len(classes), 1)
        name = f"{classes[label]}/{i:05d}.jpg" if classes else f"{i:05d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        size = (rng.randrange(230, 281), rng.randrange(165, 201))
        synthetic_image(label, max(len(classes), 15), rng, size).save(folder / name, quality=90)
        ids.append(name)
    return ids


def stack_batch(examples: list[dict]) -> dict:
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in examples])}
    return {**batch, "labels": torch.tensor([e["labels"] for e in examples])} if "labels" in examples[0] else batch


def per_image_processor_dataset(folder: Path, ids: list[str], processor, labels: list[int] | None = None):
    """The report's recipe: a datasets `Image` column and the image processor per PIL image in `set_transform`."""
    columns = {"image": [str(folder / i) for i in ids], **({"labels": labels} if labels is not None else {})}
    table = datasets.Dataset.from_dict(columns).cast_column("image", datasets.Image())

    def transform(batch):
        pixels = [processor(image.convert("RGB"), return_tensors="pt")["pixel_values"][0] for image in batch["image"]]
        return {"pixel_values": pixels, **({"labels": batch["labels"]} if "labels" in batch else {})}

    table.set_transform(transform)
    return table


def tiny_clip_224(folder: Path) -> Path:
    """A tiny random CLIP that reads 224 px images (patch 32: 49 tokens), so the run is about the data path."""
    tower = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    text = dict(tower, vocab_size=128, max_position_embeddings=16, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    vision = dict(tower, image_size=224, patch_size=32)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    return folder


def _run_ours(data: Path, checkpoint: Path, out: Path, epochs: int) -> float:
    from .train import main as train_main

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


def _run_stock(data: Path, checkpoint: Path, split_csv: Path, out: Path, epochs: int) -> tuple[float, ...]:
    """The stock recipe on our split: `set_transform` with the (report's) processor per image, Trainer defaults."""
    import pandas as pd

    start = time.perf_counter()
    split, label = pd.read_csv(split_csv), {name: i for i, name in enumerate(HAR_CLASSES)}
    processor = CLIPImageProcessorPil.from_pretrained(checkpoint)
    tables = {
        name: per_image_processor_dataset(data, list(rows["id"]), processor, [label[x] for x in rows["label"]])
        for name, rows in split.groupby("split")
    }
    torch.manual_seed(42)
    model = CLIPForImageClassification.from_pretrained(checkpoint, num_labels=len(HAR_CLASSES))
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=epochs,
        per_device_train_batch_size=32,
        learning_rate=1e-3,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=True,
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
    accuracy = trainer.evaluate(tables["test"], metric_key_prefix="test")["test_accuracy"]
    return time.perf_counter() - start, train_seconds, accuracy


@contextlib.contextmanager
def _output_to(path: Path):
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
    from .bench import har_sized_jpegs

    data, runs = work / "run_data", work / "runs"
    har_sized_jpegs(data / "train", per_class * len(HAR_CLASSES), seed=1, classes=HAR_CLASSES)
    checkpoint = tiny_clip_224(work / "tiny-clip-224")
    log_path = work / "run.log"
    with _output_to(log_path):  # training logs and progress bars
        ours_seconds = _run_ours(data, checkpoint, runs / "ours", epochs)
        stock = _run_stock(data, checkpoint, runs / "ours" / "split.csv", runs / "stock", epochs)
    results = json.loads((runs / "ours" / "all_results.json").read_text())
    ours = (ours_seconds, results["train_runtime"], results["test_accuracy"])
    row = "| {} | {:.1f} | {:.1f} | {:.3f} |"
    return [
        f"whole run: {per_class * len(HAR_CLASSES)} HAR-sized JPEGs, 15 classes, tiny CLIP at 224 px, {epochs} "
        f"epochs, evaluation every epoch, same split, {device_name} (log: {log_path})",
        "| recipe | wall-clock s | of which train_runtime s | test accuracy |",
        "|---|---:|---:|---:|",
        row.format("stock: processor per image in set_transform, Trainer defaults", *stock),
        row.format("ours: `train.main` (scan, split, cache, train, evaluate, predict, run folder)", *ours),
        f"speed-up: {stock[0] / ours[0]:.1f}x the whole run, {stock[1] / ours[1]:.1f}x the training loop",
    ]
