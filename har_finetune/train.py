"""The training job: `main(argv, family)` fine-tunes a CLIP / SigLIP / SigLIP 2 vision tower on HAR.

    python fine_tune_har_siglip.py --dataset Bingsu/Human_Action_Recognition --output_dir outputs/siglip

Everything the run produces lands in one folder (docs/run_folder.md). A finished run is not retrained; an
interrupted one resumes from its newest complete checkpoint.
"""

import logging
import math
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, set_seed
from transformers.utils import logging as hf_logging

from . import io, wise_ft, zero_shot
from .checkpoints import checkpoint_epoch, latest_complete_checkpoint, run_is_finished
from .config import DataArguments, HarTrainingArguments, ModelArguments, parse_args
from .data.cache import default_cache_dir
from .data.datasets import Collator, EpochSetter, build_dataset, pixel_store, scan_recorder
from .data.images import scan_images
from .data.sources import LabelledImages, load_source
from .data.split import Split, make_split
from .data.transforms import DeviceTransform
from .errors import RunFailed, UserError
from .guards import NonFiniteGuard, disk_full_is_one_line, explain_faults, save_final_model
from .hub_access import check_model
from .metrics import compute_metrics, logits_of, per_class_report, predictions_table
from .models import ModelFamily, count_parameters, load_classifier, load_image_processor
from .optimization import FineTuningTrainer
from .preemption import PREEMPTED_EXIT_CODE, PreemptionCallback, wait_for_all_ranks

logger = logging.getLogger("har_finetune")
OUR_RUN_MARKER = "run_config.json"


def main(argv: list[str], family: str) -> int:
    model_args, data_args, training_args = parse_args(argv, family)
    setup_logging(training_args)
    output_dir = Path(training_args.output_dir)
    if run_is_finished(output_dir):
        logger.info("%s holds a finished run (all_results.json); not training again", output_dir)
        return 0
    check_output_dir(output_dir)
    check_model(model_args.model_name_or_path)  # a wrong model id fails in seconds, not after the data scan
    preemption = PreemptionCallback()  # early, so a signal during loading still stops cleanly
    set_seed(training_args.seed)
    processor = load_image_processor(model_args.model_name_or_path)  # before the scan, which fills the pixel cache
    record = training_args.local_process_index == 0  # DDP: one rank per node records, the others wait for it
    with _pixel_cache_space(data_args):
        source, split, scans, recorder = prepare_split(data_args, training_args.seed, processor, record)
    model, model_family = load_classifier(
        model_args.model_name_or_path,
        source.class_names,
        training_args.seed,
        model_args.head,
        model_args.prompt_templates,
    )
    with training_args.main_process_first(desc="pixel cache"), _pixel_cache_space(data_args):
        datasets = build_datasets(
            source, split, scans, recorder, processor, model_family, data_args, training_args.seed
        )
    if training_args.should_save:
        with disk_full_is_one_line(f"the run folder {output_dir}", "free some space and rerun the same command"):
            write_run_metadata(output_dir, split, source, model_args, data_args, training_args, family)
    guard = NonFiniteGuard()
    trainer = build_trainer(model, processor, model_family, datasets, data_args, training_args, [preemption, guard])
    if training_args.zero_shot:  # the baseline row of the report, before any training
        zero_shot.write_baseline(
            trainer,
            datasets["test"],
            source.class_names,
            model_args.model_name_or_path,
            model_args.head,
            model_args.prompt_templates,
            model_family.model_type,
        )
    zero_shot_weights = wise_ft.snapshot(model) if training_args.wise_ft_alpha else None
    resume_from = latest_complete_checkpoint(output_dir)
    if resume_from:
        logger.info("resuming from %s", resume_from)
    with explain_faults(trainer):  # out of memory, disk full: one line, what to try
        train_result = trainer.train(resume_from_checkpoint=resume_from)
    if guard.failure:  # NaN/inf: nothing of this model is saved
        raise RunFailed(guard.failure)
    if preemption.preempted:
        logger.warning("stopped for preemption at step %d; resubmit (or requeue) to resume", preemption.stopped_at_step)
        wait_for_all_ranks()
        return PREEMPTED_EXIT_CODE
    with explain_faults(trainer):
        wise = (
            wise_ft.choose_alpha(trainer, zero_shot_weights, training_args.wise_ft_alpha, datasets["validation"])
            if zero_shot_weights
            else {}
        )
        finish_run(
            trainer,
            train_result.metrics,
            datasets,
            split,
            source,
            model_args,
            model_family,
            wise,
            resumed_from_epoch=checkpoint_epoch(resume_from),
        )
    return 0


def build_trainer(
    model,
    processor,
    model_family: ModelFamily,
    datasets: dict,
    data_args: DataArguments,
    training_args: HarTrainingArguments,
    callbacks: list,
) -> FineTuningTrainer:
    """Trainer with our batch finishing on the device, LP-FT / layer decay, and the callbacks (guard last)."""
    return FineTuningTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        device_transform=DeviceTransform(processor, data_args.augmentation),
        data_collator=Collator(processor if model_family.processor_builds_batches else None),
        processing_class=processor,
        compute_metrics=compute_metrics,
        callbacks=[EpochSetter(datasets["train"]), *callbacks],  # the NaN guard last: it cancels saves
        layer_decay=training_args.layer_decay,
        linear_probe_epochs=training_args.linear_probe_epochs,
        linear_probe_learning_rate=training_args.linear_probe_learning_rate,
    )


def setup_logging(training_args: HarTrainingArguments) -> None:
    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        level=level,
        stream=sys.stdout,
        force=True,
    )
    hf_logging.set_verbosity_warning()


def check_output_dir(output_dir: Path) -> None:
    """Refuse a non-empty folder that is not one of our runs, instead of mixing files into it."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output_dir {output_dir} is a file; choose a folder (new or holding a run of this tool)")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / OUR_RUN_MARKER).is_file():
        if not any(output_dir.glob("checkpoint-*")):
            raise UserError(
                f"--output_dir {output_dir} holds files that are not a run of this tool; choose an empty or new folder"
            )


def prepare_split(data_args: DataArguments, seed: int, processor, record: bool):
    """Find the dataset, decode-check every image (the pixel cache keeps them), de-duplicate, split."""
    source = load_source(data_args.dataset, data_args.image_column, data_args.label_column)
    recorder = (
        scan_recorder(_cache_dir(data_args), processor, data_args.pixel_cache_resolution, source.root, source.ids)
        if record
        else None
    )
    try:
        scans = scan_images(source.reader, source.ids, on_image=recorder)
    except BaseException:
        if recorder is not None:  # give the space back now: the disk may be what filled up
            recorder.writer.discard()
        raise
    split = make_split(
        source,
        scans,
        data_args.test_fraction,
        data_args.validation_fraction,
        seed,
        data_args.max_unreadable_fraction,
        data_args.strict,
    )
    counts = split.table["split"].value_counts()
    logger.info(
        "split (%s test split): %d train, %d validation, %d test images, %d classes",
        split.test_source,
        counts.get("train", 0),
        counts.get("validation", 0),
        counts.get("test", 0),
        len(source.class_names),
    )
    return source, split, scans, recorder


def _cache_dir(data_args: DataArguments) -> Path | None:
    return Path(data_args.pixel_cache_dir or default_cache_dir()) if data_args.pixel_cache else None


def _pixel_cache_space(data_args: DataArguments):
    """A full disk while the pixel cache is written: one line with the ways out."""
    fix = "free some space there, point --pixel_cache_dir at a larger disk, or run with --no_pixel_cache"
    return disk_full_is_one_line(f"the pixel cache in {_cache_dir(data_args)}", fix)


def _subset(ids: list[str], labels: list[str], limit: int | None, seed: int) -> tuple[list[str], list[str]]:
    if limit is None or limit >= len(ids):
        return ids, labels
    keep = sorted(np.random.default_rng(seed).permutation(len(ids))[:limit])
    return [ids[i] for i in keep], [labels[i] for i in keep]


def build_datasets(
    source, split, scans, recorder, processor, model_family: ModelFamily, data_args: DataArguments, seed: int
):
    label_index = {name: i for i, name in enumerate(source.class_names)}
    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_eval_samples,
    }
    builds = model_family.processor_builds_batches
    store = pixel_store(
        source, scans, processor, _cache_dir(data_args), data_args.pixel_cache_resolution, recorder, needed=not builds
    )
    datasets = {}
    for name, limit in limits.items():
        ids, labels = _subset(split.ids(name), split.labels(name), limit, seed)
        datasets[name] = build_dataset(
            source.reader,
            ids,
            [label_index[x] for x in labels],
            processor,
            train=name == "train",
            augmentation=data_args.augmentation,
            seed=seed,
            processor_builds_batches=builds,
            store=store,
            policy_on_device=torch.cuda.is_available(),
        )
    return datasets


def library_versions() -> dict[str, str | None]:
    packages = ("torch", "torchvision", "transformers", "datasets", "accelerate", "scikit-learn", "pillow", "numpy")
    return {"python": platform.python_version(), **{name: _version(name) for name in packages}}


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:  # e.g. `datasets`, needed only for Hub-format data (not on the GPU machine)
        return None


def write_run_metadata(output_dir, split, source, model_args, data_args, training_args, family) -> None:
    io.write_json(
        output_dir / OUR_RUN_MARKER,
        {
            "family": family,
            "model_args": vars(model_args),
            "data_args": vars(data_args),
            "training_args": training_args.to_dict(),
            "dataset": {
                "kind": source.kind,
                "root": str(Path(source.root).resolve())
                if source.kind != "hub" or Path(source.root).exists()
                else source.root,
                "image_column": source.image_column,
                "label_column": source.label_column,
            },
        },
    )
    io.write_json(output_dir / "versions.json", library_versions())
    io.write_csv(output_dir / "split.csv", split.table)
    io.write_csv(output_dir / "skipped_images.csv", split.skipped)


def finish_run(
    trainer: Trainer,
    train_metrics: dict,
    datasets: dict,
    split: Split,
    source: LabelledImages,
    model_args: ModelArguments,
    model_family: ModelFamily,
    extra_results: dict | None = None,
    resumed_from_epoch: float = 0.0,
) -> None:
    """Validation and test metrics of the kept model, predictions, per-class report; all_results.json last.

    `extra_results` (e.g. the WiSE-FT choice) are added to all_results.json. After a resume from a checkpoint
    taken at `resumed_from_epoch`, Trainer's train_* figures cover only this process's part of the training."""
    eval_metrics = trainer.evaluate(datasets["validation"])
    test = trainer.predict(datasets["test"], metric_key_prefix="test")
    if not trainer.args.should_save:
        return
    output_dir = Path(trainer.args.output_dir)
    save_final_model(trainer, output_dir)  # the previous model files stay until all new ones are written
    table = predictions_table(datasets["test"].ids, test.label_ids, logits_of(test.predictions), source.class_names)
    io.write_csv(output_dir / "test_predictions.csv", table)
    io.write_csv(output_dir / "classification_report.csv", per_class_report(table, source.class_names))
    epochs = train_metrics.get("epoch") or trainer.state.epoch
    epochs_timed = epochs - resumed_from_epoch  # what train_runtime measured
    history = [e["eval_accuracy"] for e in trainer.state.log_history if "eval_accuracy" in e]
    results = {
        "model_type": model_family.model_type,
        "model_name_or_path": model_args.model_name_or_path,
        "num_parameters": count_parameters(trainer.model),
        **{f"num_{name}_samples": len(ds) for name, ds in datasets.items()},
        "num_duplicates_removed": split.num_duplicates,
        "num_skipped_images": len(split.skipped),
        "test_split": split.test_source,
        "epochs": epochs,
        **train_metrics,
        "seconds_per_epoch": train_metrics["train_runtime"] / epochs_timed if epochs_timed > 0 else math.nan,
        "resumed_from_epoch": resumed_from_epoch,
        "best_validation_accuracy": max(history) if history else eval_metrics["eval_accuracy"],
        **eval_metrics,
        **test.metrics,
        "device": _device_name(),
        **(extra_results or {}),
    }
    if torch.cuda.is_available():
        results["peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    io.write_json(output_dir / "all_results.json", results)
    logger.info(
        "test accuracy %.4f, macro-F1 %.4f (%d images); run folder %s",
        results["test_accuracy"],
        results["test_macro_f1"],
        len(datasets["test"]),
        output_dir,
    )


def _device_name() -> str:
    return f"cuda:{torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"
