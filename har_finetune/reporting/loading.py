"""The report's loading side: which run folders a path stands for, and each run's test results as a `ScoredRun`.

The one rule for what a reporting command accepts (plot_metrics.py, visualize_predictions.py, the campaign report,
predict): a run folder, or a folder holding run folders (a campaign: seed-<N>/ or sweep folders), `expand_run_dirs`.
Every read goes through the run folder's reader (`RunRecord`, run_folder/reader.py), one record per run and report:
`load_records` makes them, everything after takes them.
"""

from __future__ import annotations

from pathlib import Path

from har_finetune.core import metrics
from har_finetune.core.local_paths import missing_path_message
from har_finetune.reporting.scored import ScoredRun
from har_finetune.run_folder.files import PLOTS, is_run_folder
from har_finetune.run_folder.reader import RunFolderError, RunRecord

# Settings that do not change a run's result: left out when run_config.json has no "identity" (older run folders).
NOT_IDENTITY = {"seed", "output_dir", "logging_dir", "run_name", "overwrite_output_dir", "report_to", "disable_tqdm",
                "resume_from_checkpoint", "save_total_limit", "per_device_eval_batch_size", "local_rank",
                "use_cpu"}  # fmt: skip
NOT_IDENTITY_PREFIXES = ("_", "logging_", "hub_", "push_to_hub", "save_", "dataloader_", "pixel_cache", "ddp_")


def run_folders(path: Path, depth: int = 3) -> list[Path]:
    """`path` if it is a run folder, else the run folders below it (a campaign: seed-<N>/ or sweep folders), sorted.

    Hidden folders and plots/ are not searched; `depth` bounds the search (a sweep of seed campaigns is 2 deep)."""
    path = Path(path)
    if is_run_folder(path):
        return [path]
    if depth == 0 or not path.is_dir():
        return []
    children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != PLOTS)
    return [run for child in children for run in run_folders(child, depth - 1)]


def expand_run_dirs(paths: list[Path]) -> list[Path]:
    """Campaign folders replaced by the run folders under them; the same folder given twice kept once."""
    expanded, seen = [], set()
    for path in paths:
        for run_dir in run_folders(path) or [Path(path)]:  # nothing found: plot_run says what is wrong
            key = Path(run_dir).resolve()
            if key not in seen:
                seen.add(key)
                expanded.append(Path(run_dir))
    return expanded


def shown_path(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it, else absolute."""
    path = Path(path).resolve()
    return path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else str(path)


RUN_FOLDERS = "a run folder written by training, or a campaign folder holding run folders"


def not_a_run(path: Path) -> str:
    """The one line for a path that is neither a run folder nor a folder holding run folders (a missing one: "no such
    folder", as training says it)."""
    if not Path(path).exists():
        return missing_path_message("", path, RUN_FOLDERS)
    what = "is not a folder" if not Path(path).is_dir() else "is not a run folder"
    return (
        f"{path} {what} (no run_config.json, trainer_state.json or checkpoint-N/ in it or in its sub-folders): pass "
        + RUN_FOLDERS
    )


def run_records(paths: list[Path]) -> list[RunRecord]:
    """`load_records` for commands that need every path to hold runs: a `RunFolderError` (`not_a_run`) otherwise."""
    records = load_records(paths)
    for record in records:
        if not is_run_folder(record.run_dir):
            raise RunFolderError(not_a_run(record.run_dir))
    return records


def distinct_suffixes(run_dirs: list[Path]) -> list[str]:
    """The shortest ends of the folder paths that tell the runs apart: `seed-1`, or `lr-1e-5/seed-1` in a sweep of
    seed campaigns (names for runs of one family: `CLIP (seed-1)` in the report, `CLIP-seed-1` for samples)."""
    parts = [Path(run_dir).resolve().parts for run_dir in run_dirs]
    for depth in range(1, max(map(len, parts), default=0) + 1):
        suffixes = ["/".join(p[-depth:]) for p in parts]
        if len(set(suffixes)) == len(suffixes):
            return suffixes
    return ["/".join(p) for p in parts]


def load_records(paths: list[Path]) -> list[RunRecord]:
    """One record per run folder the paths stand for (`expand_run_dirs`); a path that is no run folder keeps its
    record too, so that plotting names what is wrong with it."""
    return [RunRecord(run_dir) for run_dir in expand_run_dirs(paths)]


def run_identity(config: dict) -> dict | None:
    """The settings that define the run's result, without the seed; None when the folder does not record them."""
    if isinstance(config.get("identity"), dict):
        return {k: v for k, v in config["identity"].items() if k != "seed"}
    sections = [config.get(name) for name in ("model_args", "data_args", "training_args")]
    if not all(isinstance(section, dict) for section in sections):
        return None
    return {
        key: value
        for section in sections
        for key, value in section.items()
        if key not in NOT_IDENTITY and not key.startswith(NOT_IDENTITY_PREFIXES)
    }


def score_run(name: str, record: RunRecord) -> ScoredRun | None:
    """The run's test results, or None when it has no test predictions yet (unfinished)."""
    predictions = record.predictions
    if predictions is None or predictions.empty:
        return None
    predictions = predictions.sort_values("id", kind="stable").reset_index(drop=True)
    results, config = record.results, record.config
    macro_f1 = results.get("test_macro_f1")
    if macro_f1 is None:
        macro_f1 = metrics.macro_f1(predictions["label"], predictions["prediction"])
    identity = run_identity(config)
    data = (identity or {}).get("dataset_fingerprint") or (config.get("dataset") or {}).get("root")
    split = record.split_fingerprint
    seed = (config.get("identity") or {}).get("seed") if isinstance(config.get("identity"), dict) else None
    model = record.model_name
    return ScoredRun(name, record.run_dir, model, predictions, float(macro_f1), identity, split, data, seed, record)


def score_or_skip(name: str, record: RunRecord) -> ScoredRun | None:
    try:
        return score_run(name, record)
    except (RunFolderError, OSError):  # plot_run has reported the broken file; compare the others
        return None


def dataset_names(records: list[RunRecord]) -> list[str]:
    """The datasets the runs were trained on (run_config.json): a Hub id as is, a local folder by its name."""
    names = []
    for record in records:
        name = record.dataset_name
        names += [name] if name and name not in names else []
    return names
