"""The training job: `main(argv, family)` fine-tunes a CLIP / SigLIP / SigLIP 2 vision tower on HAR.

    python fine_tune_har_siglip.py --dataset Bingsu/Human_Action_Recognition --output_dir outputs/siglip

Everything the run produces lands in one folder (docs/run_folder.md). A finished run is not retrained; an
interrupted one resumes from its newest complete checkpoint. This module keeps only the order of the steps: the
settings come from settings/, the data from data/prepare.py, the model from models/; whether the run may train
into its folder is asked of run_folder/ (rerun.py), and what it writes there goes through training/records.py
and zero_shot_baseline.py to the folder's one writer (run_folder/writer.py).
"""

import logging
import sys
from contextlib import nullcontext
from pathlib import Path

from transformers import set_seed
from transformers.utils import logging as hf_logging

from har_finetune.core.errors import RunFailed, UserError
from har_finetune.core.metrics import compute_metrics
from har_finetune.data.datasets import Collator, EpochSetter
from har_finetune.data.prepare import build_datasets, cache_dir, listing_identity, load_labelled, scan_and_split
from har_finetune.data.preprocessing import Preprocessing
from har_finetune.data.transforms import DeviceTransform
from har_finetune.models import wise_ft
from har_finetune.models.load_messages import quiet_training
from har_finetune.models.registry import check_model, describe_model, load_classifier, load_image_processor
from har_finetune.run_folder.checkpoints import checkpoint_epoch, latest_complete_checkpoint, run_is_finished
from har_finetune.run_folder.identity import content_fingerprint
from har_finetune.run_folder.lock import RunLock
from har_finetune.run_folder.reader import saved_class_names
from har_finetune.run_folder.rerun import refuse_different_run
from har_finetune.settings.parser import parse_run
from har_finetune.settings.spec import RunSpec
from har_finetune.training import zero_shot_baseline
from har_finetune.training.guards import NonFiniteGuard, disk_full_is_one_line, explain_faults
from har_finetune.training.preemption import (
    PREEMPTED_EXIT_CODE,
    PreemptionCallback,
    end_process_group,
    wait_for_all_ranks,
)
from har_finetune.training.prepared import PreparedRun
from har_finetune.training.records import evaluate_and_record, write_start_records
from har_finetune.training.rerun import refuse_older_data
from har_finetune.training.trainer import HarTrainer

logger = logging.getLogger("har_finetune")


def main(argv: list[str], family: str) -> int:
    return run(parse_run(argv, family))  # every check that needs no data: one line and exit 2 before any work


def run(spec: RunSpec) -> int:
    """The run of checked settings: the folder's lock, another run refused, a finished run recognised, else training."""
    setup_logging(spec.training)
    identity = dict(spec.identity) | {"world_size": spec.training.world_size}  # it changes the effective batch
    code = None
    try:
        with RunLock(spec.run_dir) if spec.training.process_index == 0 else nullcontext():  # held by global rank 0
            refuse_different_run(spec.run_dir, identity)  # another run's settings: one line, exit 2
            if run_is_finished(spec.run_dir):
                refuse_older_data(spec, identity)  # a finished run of data changed since: one line, exit 2
                logger.info("%s holds a finished run (all_results.json); not training again", spec.run_dir)
                code = 0
            else:
                code = train(spec, identity)
    finally:
        end_process_group(finished=code is not None)  # DDP: every rank, also after an error (then without waiting)
    return code


def train(spec: RunSpec, identity: dict) -> int:
    """The run itself, once the run folder is ours: each new fact about the run is checked against the folder's
    record (run_dir holds this run or none), before the long image scan where possible."""
    run_dir, args = spec.run_dir, spec.training
    preemption = PreemptionCallback()  # early, so a signal during loading still stops cleanly
    set_seed(args.seed)
    processor, source, identity = identify_model_and_data(spec, identity)
    resume_from = checkpoint_to_resume(run_dir, args.resume_from_checkpoint, source.class_names)
    preprocessing = Preprocessing.from_processor(processor)  # what the data layer takes
    with pixel_cache_space(spec):  # DDP: every rank scans and records its share of the images
        scanned = scan_and_split(spec, source, preprocessing)
    identity = identity | {"dataset_fingerprint": content_fingerprint(scan.content_hash for scan in scanned.scans)}
    refuse_different_run(run_dir, identity)
    if args.should_save:  # the data is accepted: the folder records what this run is
        with disk_full_is_one_line(f"the run folder {run_dir}", "free some space and rerun the same command"):
            write_start_records(spec, source, scanned.split, identity)
    model, model_family = load_classifier(
        spec.model.model_name_or_path, source.class_names, args.seed, spec.model.head, spec.model.prompt_templates
    )
    with args.main_process_first(desc="pixel cache"), pixel_cache_space(spec):
        datasets = build_datasets(spec, source, scanned, preprocessing, model_family.processor_builds_batches)
    run = PreparedRun(spec, source, scanned.split, datasets, model_family)
    guard = NonFiniteGuard()
    trainer = build_trainer(run, model, processor, [preemption, guard])
    return fit(trainer, run, guard, preemption, resume_from)


def identify_model_and_data(spec: RunSpec, identity: dict):
    """The model's type and revision, then the dataset's listing, each checked against the folder's record before
    the image scan; returns the image processor, the dataset source and the identity completed with both."""
    name = spec.model.model_name_or_path
    check_model(name)  # a wrong model id fails in seconds, not after the data scan
    identity = identity | describe_model(name)
    refuse_different_run(spec.run_dir, identity)
    processor = load_image_processor(name)  # before the scan, which fills the pixel cache
    source = load_labelled(spec)
    identity = identity | listing_identity(source)
    refuse_different_run(spec.run_dir, identity)
    return processor, source, identity


def fit(trainer: HarTrainer, run: PreparedRun, guard: NonFiniteGuard, preemption, resume_from: str | None) -> int:
    """Zero-shot baseline (--zero_shot), training, then WiSE-FT, the kept model's evaluation and the final records;
    the exit code."""
    args = trainer.args
    if args.zero_shot:  # the baseline row of the report, before any training
        zero_shot_baseline.write_baseline(trainer, run)
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
        wise = {}
        if zero_shot_weights:
            wise = wise_ft.choose_alpha(trainer, zero_shot_weights, args.wise_ft_alpha, run.datasets["validation"])
        evaluate_and_record(trainer, run, train_result.metrics, wise, resumed_from_epoch)
    return 0


def checkpoint_to_resume(run_dir: Path, explicit: str | None, class_names: list[str]) -> str | None:
    """`--resume_from_checkpoint` when given (checked complete at start-up), else the run folder's newest complete
    checkpoint, else None (a fresh start)."""
    if not explicit:
        resume_from = latest_complete_checkpoint(run_dir)
        if resume_from:
            logger.info("resuming from %s", resume_from)
        return resume_from
    classes = saved_class_names(explicit)
    if classes and classes != list(class_names):
        raise UserError(
            f"--resume_from_checkpoint {explicit} was trained on other classes ({len(classes)}: "
            f"{', '.join(classes[:4])}, ...); pass a checkpoint of a run on this dataset"
        )
    logger.info("resuming from %s (--resume_from_checkpoint)", explicit)
    return explicit


def build_trainer(run: PreparedRun, model, processor, callbacks: list) -> HarTrainer:
    """Trainer with our batch finishing on the device, LP-FT / layer decay, and the callbacks (guard last)."""
    args, datasets = run.spec.training, run.datasets
    return HarTrainer(
        model=model,
        args=args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        device_transform=DeviceTransform(Preprocessing.from_processor(processor), run.spec.data.augmentation),
        data_collator=Collator(processor if run.model_family.processor_builds_batches else None),
        processing_class=processor,
        compute_metrics=compute_metrics,
        callbacks=[EpochSetter(datasets["train"]), *callbacks],  # the NaN guard last: it cancels saves
        layer_decay=args.layer_decay,
        linear_probe_epochs=args.linear_probe_epochs,
        linear_probe_learning_rate=args.linear_probe_learning_rate,
    )


def setup_logging(training_args) -> None:
    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        level=level,
        stream=sys.stdout,
        force=True,
    )
    hf_logging.set_verbosity_warning()
    quiet_training()  # Trainer's warnings that mean nothing for our runs (models/load_messages.py)


def pixel_cache_space(spec: RunSpec):
    """A full disk while the pixel cache is written: one line with the ways out."""
    fix = "free some space there, point --pixel_cache_dir at a larger disk, or run with --no_pixel_cache"
    return disk_full_is_one_line(f"the pixel cache in {cache_dir(spec)}", fix)
