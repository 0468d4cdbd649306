"""May a run train into this folder? The question every rerun answers before it reads data or writes anything.

    refuse_different_run(run_dir, identity)   # raises a one-line UserError when the folder holds another run
    run_is_finished(run_dir)                   # checkpoints.py: True when all_results.json is readable

The first only raises, the second only answers; training/job.py and check_args.py ask both, in that order, each
time the run learns more of its identity (docs/run_folder.md, "Identity").
"""

from pathlib import Path

from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import run_is_finished
from har_finetune.run_folder.files import RUN_CONFIG, read_json_or_none
from har_finetune.run_folder.identity import DATA_KEYS, changed_keys, differences, recorded_identity


def refuse_different_run(run_dir: Path, identity: dict) -> None:
    """Raise a one-line `UserError` when `run_dir` holds a run (finished or not) whose recorded identity differs in
    a key that `identity` has: resuming it with other settings would mix two runs (e.g. re-split the data with
    another seed and test on former training images). A finished run whose data alone changed says that its results
    are of the older data. A folder without a record, or with the same run, passes."""
    config = read_json_or_none(run_dir / RUN_CONFIG)
    recorded = recorded_identity(config) if isinstance(config, dict) else {}
    changed = differences(recorded, identity)
    if not changed:
        return
    what = "; ".join(changed)
    finished = run_is_finished(run_dir)
    if finished and set(changed_keys(recorded, identity)) <= set(DATA_KEYS):
        raise UserError(
            f"--output_dir {run_dir} holds a finished run of older data ({what} since): its results are of the "
            "data as it was; nothing was trained: choose a new --output_dir to train on the data as it is now"
        )
    if finished:
        raise UserError(
            f"--output_dir {run_dir} holds a finished run with other settings ({what}); nothing was trained: choose "
            "a new --output_dir for these settings"
        )
    raise UserError(
        f"--output_dir {run_dir} holds an unfinished run with other settings ({what}); rerun its original command "
        "to resume it (see its run_config.json), or choose a new --output_dir for these settings"
    )
