"""A finished run of older data: the check that a finished run's dataset, listed again now, is the one it was
trained on. Asked under the run folder's lock by the job (training/job.py) and by the Slurm batch host's gate
(check_args.py), which must agree; imports no training stack, so the gate stays a few seconds.

    refuse_different_run(run_dir, identity)   # run_folder/rerun.py: another run's settings, one line
    if run_is_finished(run_dir):
        refuse_older_data(spec, identity)     # the data changed since: one line; else nothing left to train
"""

from har_finetune.data.prepare import listing_identity, load_labelled
from har_finetune.run_folder.reader import RunRecord
from har_finetune.run_folder.rerun import refuse_different_run
from har_finetune.settings.spec import RunSpec


def refuse_older_data(spec: RunSpec, identity: dict) -> None:
    """Raise a one-line `UserError` when the finished run in `spec.run_dir` was trained on other data than the
    dataset as listed now (no image is decoded: an image rewritten in place under the same name is not seen here,
    only by a run that scans, through the content fingerprint)."""
    if "dataset_listing" not in RunRecord(spec.run_dir).identity:
        return  # nothing recorded to compare with (a folder from before listings were recorded)
    refuse_different_run(spec.run_dir, identity | listing_identity(load_labelled(spec)))
