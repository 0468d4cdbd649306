"""Check a training command line before a Slurm job starts anything (scripts/slurm_job.sh runs it on the batch host).

    python -m har_finetune.check_args clip --dataset data/har --num_train_epochs 3    # exit 0: go ahead

The same parser and checks as fine_tune_har_<family>.py, without reading data or loading a model (a few seconds
of imports, no torchrun, no srun). Exit codes: 0 the job should train; 2 bad flags or environment, one `error:`
line on stderr; 10 the run folder already holds a finished run (one line on stdout): nothing to do.
"""

import sys

from .checkpoints import run_is_finished
from .config import DESCRIPTIONS, parse_args
from .errors import UserError, run_cli

FINISHED_EXIT_CODE = 10


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in DESCRIPTIONS:
        raise UserError(f"usage: python -m har_finetune.check_args {'|'.join(DESCRIPTIONS)} [training flags ...]")
    _, _, training_args = parse_args(argv[1:], argv[0])
    if run_is_finished(training_args.output_dir):
        print(f"{training_args.output_dir} holds a finished run (all_results.json); not training again", flush=True)
        return FINISHED_EXIT_CODE
    return 0


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
