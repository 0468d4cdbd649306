"""Check a training command line before a Slurm job starts anything (scripts/slurm_job.sh runs it on the batch host).

    python -m har_finetune.check_args clip --dataset data/har --num_train_epochs 3    # exit 0: go ahead

The same parser and checks as fine_tune_har_<family>.py, without reading data or loading a model (a few seconds
of imports, no torchrun, no srun). Exit codes: 0 the job should train; 2 bad flags or environment, one `error:`
line on stderr (also: the run folder holds a run with other settings, $HAR_WORLD_SIZE processes included, a
finished run of older data: for a finished run the dataset is listed, no image decoded, or the folder is in use by a
live run); 10 the run folder already holds a finished run of these settings and data (one line on stdout): nothing to
do.
"""

import os
import sys

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import UserError
from har_finetune.run_folder.checkpoints import run_is_finished
from har_finetune.run_folder.lock import RunLock
from har_finetune.run_folder.rerun import refuse_different_run
from har_finetune.settings.arguments import DESCRIPTIONS
from har_finetune.settings.parser import parse_run

FINISHED_EXIT_CODE = 10
WORLD_SIZE_ENV = "HAR_WORLD_SIZE"


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: python -m har_finetune.check_args {'|'.join(DESCRIPTIONS)} [training flags ...]\n\n{__doc__}")
        return 0
    if not argv or argv[0] not in DESCRIPTIONS:
        raise UserError(f"usage: python -m har_finetune.check_args {'|'.join(DESCRIPTIONS)} [training flags ...]")
    spec = parse_run(argv[1:], argv[0])  # every check that needs no data, as the training script runs them
    from har_finetune.training.rerun import refuse_older_data  # the data layer only for this question

    identity = dict(spec.identity)
    if os.environ.get(WORLD_SIZE_ENV):  # scripts/slurm_job.sh: the processes the job will start
        identity["world_size"] = int(os.environ[WORLD_SIZE_ENV])
    with RunLock(spec.run_dir):  # held by a live run: one line now, not after srun (released at once)
        refuse_different_run(spec.run_dir, identity)  # as training/job.py asks: other settings, one line
        finished = run_is_finished(spec.run_dir)
        if finished:
            refuse_older_data(spec, identity)  # a finished run of data changed since: one line
    if finished:
        print(f"{spec.run_dir} holds a finished run (all_results.json); not training again", flush=True)
        return FINISHED_EXIT_CODE
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(lambda: main(sys.argv[1:]))


if __name__ == "__main__":
    cli()
