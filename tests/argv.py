"""The one training command line of the tests: tiny runs on CPU, offline, quiet; each test adds its own flags.

Not a test file; `from argv import training_argv`. Later flags win (argparse keeps the last value), so `*extra`
may override the defaults here.
"""

from pathlib import Path


def training_argv(dataset: str | Path, checkpoint: str | Path, out: str | Path, *extra: str) -> list[str]:
    """`fine_tune_har_<family>.py` flags: the data, the model, the run folder, a learning rate that moves a tiny
    random model in a few steps, loading in the training process, no progress bars."""
    return [
        "--dataset", str(dataset), "--model_name_or_path", str(checkpoint), "--output_dir", str(out),
        "--learning_rate", "1e-3", "--logging_steps", "5", "--dataloader_num_workers", "0", "--disable_tqdm", "True",
        *extra,
    ]  # fmt: skip
