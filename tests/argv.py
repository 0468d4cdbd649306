"""The one training command line of the tests: tiny runs on CPU, offline, quiet; each test adds its own flags.

Not a test file; `from argv import training_argv`. Later flags win (argparse keeps the last value), so `*extra`
may override the defaults here.
"""

from pathlib import Path


def training_argv(
    dataset: str | Path, checkpoint: str | Path, out: str | Path, *extra: str, learning_rate: str | None = "1e-3"
) -> list[str]:
    """`fine_tune_har_<family>.py` flags: the data, the model, the run folder, a learning rate that moves a tiny
    random model in a few steps (None: leave it to a sweep file), loading in the training process, no progress
    bars."""
    rate = ["--learning_rate", learning_rate] if learning_rate else []
    return [
        "--dataset", str(dataset), "--model_name_or_path", str(checkpoint), "--output_dir", str(out), *rate,
        "--logging_steps", "5", "--dataloader_num_workers", "0", "--disable_tqdm", "True", *extra,
    ]  # fmt: skip
