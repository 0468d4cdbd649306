"""The training job: `main(argv, family)` fine-tunes a CLIP / SigLIP / SigLIP 2 vision tower on HAR.

    python fine_tune_har_siglip.py --dataset Bingsu/Human_Action_Recognition --output_dir outputs/siglip

Everything the run produces lands in one folder (docs/run_folder.md). A finished run is not retrained; an
interrupted one resumes from its newest complete checkpoint.
"""

import logging
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from transformers import set_seed
from transformers.utils import logging as hf_logging

from har_finetune.core.errors import RunFailed, UserError
from har_finetune.core.hub import check_model
from har_finetune.core.metrics import compute_metrics
from har_finetune.data.cache import default_cache_dir
from har_finetune.data.datasets import Collator, EpochSetter, build_dataset, pixel_store, scan_recorder, scan_source
from har_finetune.data.labelled import LabelledImages
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.data.sources import load_source
from har_finetune.data.split import make_split
from har_finetune.data.transforms import DeviceTransform
from har_finetune.models import wise_ft
from har_finetune.models.registry import ModelFamily, describe_model, load_classifier, load_image_processor
from har_finetune.run_folder.checkpoints import (
    checkpoint_epoch,
    explicit_checkpoint_problem,
    latest_complete_checkpoint,
    numbered_checkpoints,
)
from har_finetune.run_folder.files import LOCK, LOCK_HOLDER, MODEL_CONFIG, RUN_CONFIG, read_json_or_none
from har_finetune.run_folder.identity import content_fingerprint, listing_fingerprint, settings_identity
from har_finetune.run_folder.lock import RunLock
from har_finetune.run_folder.writer import check_rerun, recorded_value, write_run_config, write_split
from har_finetune.settings.arguments import DataArguments, HarTrainingArguments, parse_args
from har_finetune.training import zero_shot_baseline
from har_finetune.training.guards import NonFiniteGuard, disk_full_is_one_line, explain_faults
from har_finetune.training.preemption import PREEMPTED_EXIT_CODE, PreemptionCallback, wait_for_all_ranks
from har_finetune.training.records import finish_run, library_versions, run_config
from har_finetune.training.trainer import HarTrainer

logger = logging.getLogger("har_finetune")


def main(argv: list[str], family: str) -> int:
    model_args, data_args, training_args = parse_args(argv, family)
    setup_logging(training_args)
    run_dir = Path(training_args.output_dir)
    if training_args.process_index == 0:  # the folder's one writer: other ranks would see its half-written files
        check_output_dir(run_dir)
    check_checkpointing(training_args)
    identity = settings_identity(vars(model_args), vars(data_args), training_args.to_dict())
    identity["world_size"] = training_args.world_size
    with RunLock(run_dir) if training_args.process_index == 0 else nullcontext():  # one lock, held by global rank 0
        if check_rerun(run_dir, identity):
            logger.info("%s holds a finished run (all_results.json); not training again", run_dir)
            return 0
        return train(model_args, data_args, training_args, family, identity)


def train(model_args, data_args, training_args, family: str, identity: dict) -> int:
    """The run itself, once the run folder is ours: each new fact about the run is checked against the folder's
    record (run_dir holds this run or none), before the long image scan where possible."""
    run_dir = Path(training_args.output_dir)
    recorded_split = recorded_value(run_dir, "split_fingerprint") if numbered_checkpoints(run_dir) else None
    preemption = PreemptionCallback()  # early, so a signal during loading still stops cleanly
    set_seed(training_args.seed)
    processor, source = identify_model_and_data(run_dir, model_args, data_args, identity)
    resume_from = checkpoint_to_resume(run_dir, training_args.resume_from_checkpoint, source.class_names)
    preprocessing = Preprocessing.from_processor(processor)  # what the data layer takes
    with _pixel_cache_space(data_args):  # DDP: every rank scans and records its share of the images
        split, scans, recorder = prepare_split(source, data_args, data_args.split_seed, preprocessing)
    identity["dataset_fingerprint"] = content_fingerprint(scan.content_hash for scan in scans)
    check_rerun(run_dir, identity)
    if training_args.should_save:  # the data is accepted: the folder records what this run is
        with disk_full_is_one_line(f"the run folder {run_dir}", "free some space and rerun the same command"):
            fingerprint = write_split(run_dir, split.table, split.skipped, recorded_split)
            config = run_config(family, model_args, data_args, training_args, source, identity)
            write_run_config(run_dir, config | {"split_fingerprint": fingerprint}, library_versions())
    model, model_family = load_classifier(
        model_args.model_name_or_path,
        source.class_names,
        training_args.seed,
        model_args.head,
        model_args.prompt_templates,
    )
    with training_args.main_process_first(desc="pixel cache"), _pixel_cache_space(data_args):
        datasets = build_datasets(
            source, split, scans, recorder, preprocessing, model_family, data_args, training_args.seed
        )
    guard = NonFiniteGuard()
    trainer = build_trainer(model, processor, model_family, datasets, data_args, training_args, [preemption, guard])
    return fit(trainer, guard, preemption, resume_from, datasets, split, source, model_args, model_family)


def identify_model_and_data(run_dir: Path, model_args, data_args, identity: dict):
    """The model's type and revision, then the dataset's listing, each checked against the folder's record before
    the image scan; returns the image processor and the dataset source."""
    check_model(model_args.model_name_or_path)  # a wrong model id fails in seconds, not after the data scan
    identity |= describe_model(model_args.model_name_or_path)
    check_rerun(run_dir, identity)
    processor = load_image_processor(model_args.model_name_or_path)  # before the scan, which fills the pixel cache
    source = load_source(data_args.dataset, data_args.image_column, data_args.label_column)
    identity |= {
        "dataset_listing": listing_fingerprint(source.ids, source.labels, source.source_splits),
        "class_names": list(source.class_names),
    }
    check_rerun(run_dir, identity)
    return processor, source


def fit(trainer: HarTrainer, guard, preemption, resume_from, datasets, split, source, model_args, model_family) -> int:
    """Zero-shot baseline (--zero_shot), training, then WiSE-FT and the final records; the exit code."""
    args = trainer.args
    if args.zero_shot:  # the baseline row of the report, before any training
        zero_shot_baseline.write_baseline(
            trainer,
            datasets["test"],
            source.class_names,
            model_args.model_name_or_path,
            model_args.head,
            model_args.prompt_templates,
            model_family.model_type,
        )
    zero_shot_weights = wise_ft.snapshot(trainer.model) if args.wise_ft_alpha else None
    resumed_from_epoch = checkpoint_epoch(resume_from)  # now: checkpoint rotation may delete it during training
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
            wise_ft.choose_alpha(trainer, zero_shot_weights, args.wise_ft_alpha, datasets["validation"])
            if zero_shot_weights
            else {}
        )
        finish_run(trainer, train_result.metrics, datasets, split, source, model_args, model_family, wise,
                   resumed_from_epoch)  # fmt: skip
    return 0


def check_checkpointing(args: HarTrainingArguments) -> None:
    """Checkpoints must be resumable: a preempted or requeued run continues from them."""
    if args.save_only_model and args.save_strategy != "no":
        raise UserError(
            "--save_only_model checkpoints cannot be resumed (no optimizer, scheduler or RNG state), so a "
            "preempted or requeued run would start over: drop --save_only_model (the final model is saved without "
            "optimizer state either way)"
        )
    if args.resume_from_checkpoint and (problem := explicit_checkpoint_problem(args.resume_from_checkpoint)):
        raise UserError(problem)


def checkpoint_to_resume(run_dir: Path, explicit: str | None, class_names: list[str]) -> str | None:
    """`--resume_from_checkpoint` when given (checked complete at start-up), else the run folder's newest complete
    checkpoint, else None (a fresh start)."""
    if not explicit:
        resume_from = latest_complete_checkpoint(run_dir)
        if resume_from:
            logger.info("resuming from %s", resume_from)
        return resume_from
    config = read_json_or_none(Path(explicit) / MODEL_CONFIG) or {}
    classes = [config["id2label"][k] for k in sorted(config.get("id2label") or {}, key=int)]
    if classes and classes != list(class_names):
        raise UserError(
            f"--resume_from_checkpoint {explicit} was trained on other classes ({len(classes)}: "
            f"{', '.join(classes[:4])}, ...); pass a checkpoint of a run on this dataset"
        )
    logger.info("resuming from %s (--resume_from_checkpoint)", explicit)
    return explicit


def build_trainer(
    model,
    processor,
    model_family: ModelFamily,
    datasets: dict,
    data_args: DataArguments,
    training_args: HarTrainingArguments,
    callbacks: list,
) -> HarTrainer:
    """Trainer with our batch finishing on the device, LP-FT / layer decay, and the callbacks (guard last)."""
    return HarTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        device_transform=DeviceTransform(Preprocessing.from_processor(processor), data_args.augmentation),
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
    contents = {p.name for p in output_dir.iterdir()} - {LOCK, LOCK_HOLDER} if output_dir.is_dir() else set()
    if contents and RUN_CONFIG not in contents:
        if not any(output_dir.glob("checkpoint-*")):
            raise UserError(
                f"--output_dir {output_dir} holds files that are not a run of this tool; choose an empty or new folder"
            )


def prepare_split(source: LabelledImages, data_args: DataArguments, seed: int, preprocessing: Preprocessing):
    """Decode-check every image changed since the recorded scan (the pixel cache keeps them), de-duplicate, split."""
    recorder = scan_recorder(_cache_dir(data_args), preprocessing, data_args.pixel_cache_resolution)
    try:
        scans = scan_source(source, _cache_dir(data_args), recorder)
    except BaseException:
        if recorder is not None:  # give the space back now: the disk may be what filled up
            recorder.discard()
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
    return split, scans, recorder


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
    source, split, scans, recorder, preprocessing, model_family: ModelFamily, data_args: DataArguments, seed: int
):
    label_index = {name: i for i, name in enumerate(source.class_names)}
    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_eval_samples,
    }
    builds = model_family.processor_builds_batches
    cache_dir, resolution = _cache_dir(data_args), data_args.pixel_cache_resolution
    store = pixel_store(source, scans, preprocessing, cache_dir, resolution, recorder, needed=not builds)
    datasets = {}
    for name, limit in limits.items():
        subset_seed = seed if name == "train" else data_args.split_seed  # every --seed is scored on the same images
        ids, labels = _subset(split.ids(name), split.labels(name), limit, subset_seed)
        datasets[name] = build_dataset(
            source.reader,
            ids,
            [label_index[x] for x in labels],
            preprocessing,
            train=name == "train",
            augmentation=data_args.augmentation,
            seed=seed,
            store=store,
            policy_on_device=torch.cuda.is_available(),
        )
    return datasets
