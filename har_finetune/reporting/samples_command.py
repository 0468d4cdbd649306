"""Write annotated test predictions (green = right, red = wrong) and a grid per run into SampleOutputs/<Model>/.

    python visualize_predictions.py outputs/clip outputs/siglip          # 16 samples each, seed 0
    python visualize_predictions.py outputs/demo/clip outputs/demo/siglip --out_root outputs/demo/samples
    python visualize_predictions.py outputs/clip --only_mistakes --num_samples 8
    python visualize_predictions.py outputs/clip --one_per_class --repredict   # re-run the saved model on CPU

Takes run folders or folders holding run folders (a campaign: every run under it), as plot_metrics.py does. Each
run gets the folder of its model's name; runs of one model get the end of their folder path too (`CLIP-seed-2`),
and a folder that holds another run's samples is never overwritten: a note says so and the samples go beside it.
Uses test_predictions.csv and the dataset named in run_config.json (or --data_root); the saved model only with
--repredict or when the run has no test_predictions.csv.
"""

import argparse
import itertools
import sys
from pathlib import Path

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import UserError
from har_finetune.reporting.loading import distinct_suffixes, run_records, shown_path
from har_finetune.reporting.samples import SampleOptions, samples_owner, visualize_run
from har_finetune.run_folder.reader import RunRecord


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders written by training, or folders of runs"
    )
    parser.add_argument("--num_samples", type=int, default=16, help="images per run (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="which images (same seed, same test split: same images)")
    parser.add_argument("--only_mistakes", action="store_true", help="only wrongly predicted images")
    parser.add_argument("--one_per_class", action="store_true", help="at most one image per true class")
    parser.add_argument("--name", nargs="+", help="output folder name per run (default: model type, e.g. CLIP)")
    parser.add_argument("--out_root", type=Path, default=Path("SampleOutputs"), help="parent of the per-run folders")
    parser.add_argument("--repredict", action="store_true", help="predict with the saved model instead of the CSV")
    parser.add_argument("--data_root", type=Path, help="dataset root, if it moved since training")
    parser.add_argument("--image_size", type=int, default=512, help="longer side of each annotated image, px")
    args = parser.parse_args(argv)
    if args.num_samples < 1 or args.image_size < 64:
        parser.error("--num_samples must be >= 1 and --image_size >= 64")
    return args


def default_names(records: list[RunRecord]) -> list[str]:
    """The model's name (`CLIP`); runs of one model get the end of their folder path that tells them apart."""
    names = [record.model_name for record in records]
    for base in set(names):
        same = [i for i, name in enumerate(names) if name == base]
        if len(same) > 1:
            for i, suffix in zip(same, distinct_suffixes([records[i].run_dir for i in same])):
                names[i] = f"{base}-{suffix.replace('/', '-')}"
    return names


def sample_folders(records: list[RunRecord], out_root: Path, names: list[str]) -> list[Path]:
    """A folder per run under `out_root`, named `names[i]` unless that holds another run's samples (written
    earlier, or by a run before it in this command): then the next free `<name>-2`, `-3`, ... beside it, said in
    one line."""
    claimed: dict[Path, Path] = {}  # folder -> the run (resolved) whose samples it gets in this command
    folders = []
    for record, name in zip(records, names):
        run = record.run_dir.resolve()
        for candidate in itertools.chain([name], (f"{name}-{k}" for k in itertools.count(2))):
            folder = out_root / candidate
            owner = claimed.get(folder) or samples_owner(folder)
            if owner is None or owner == run:
                break
            if candidate == name:
                first = owner
        if folder.name != name:
            print(f"note: {out_root / name} holds the samples of {shown_path(first)}; "
                  f"those of {shown_path(run)} go beside them into {folder}")  # fmt: skip
        claimed[folder] = run
        folders.append(folder)
    return folders


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    records = run_records(args.run_dirs)
    if args.name and len(args.name) != len(records):
        raise UserError(f"--name needs one name per run ({len(records)} found in the RUN_DIRs), got {len(args.name)}")
    options = SampleOptions(args.num_samples, args.seed, args.only_mistakes, args.one_per_class, args.repredict,
                            args.data_root, args.image_size)  # fmt: skip
    folders = sample_folders(records, args.out_root, args.name or default_names(records))
    for record, folder in zip(records, folders):
        written = visualize_run(record, folder, folder.name, options)
        print(f"{record.run_dir}: wrote {len(written) - 2} images and samples.csv into {folder}")
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)
