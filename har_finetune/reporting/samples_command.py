"""Write annotated test predictions (green = right, red = wrong) and a grid per run into SampleOutputs/<Model>/.

    python visualize_predictions.py outputs/clip outputs/siglip          # 16 samples each, seed 0
    python visualize_predictions.py outputs/clip --only_mistakes --num_samples 8
    python visualize_predictions.py outputs/clip --one_per_class --repredict   # re-run the saved model on CPU

Uses test_predictions.csv and the dataset named in run_config.json (or --data_root); the saved model only with
--repredict or when the run has no test_predictions.csv.
"""

import argparse
import sys
from pathlib import Path

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import UserError
from har_finetune.reporting.samples import visualize_run
from har_finetune.run_folder.reader import model_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders written by training")
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
    if args.name and len(args.name) != len(args.run_dirs):
        parser.error(f"--name needs one name per RUN_DIR ({len(args.run_dirs)}), got {len(args.name)}")
    if args.num_samples < 1 or args.image_size < 64:
        parser.error("--num_samples must be >= 1 and --image_size >= 64")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = args.name or [model_name(run_dir) for run_dir in args.run_dirs]
    if len(set(names)) < len(names):
        raise UserError(f"two runs would write into the same folder ({names}); set --name, one per RUN_DIR")
    for run_dir, name in zip(args.run_dirs, names):
        written = visualize_run(
            run_dir,
            args.out_root / name,
            title=name,
            count=args.num_samples,
            seed=args.seed,
            only_mistakes=args.only_mistakes,
            one_per_class=args.one_per_class,
            repredict=args.repredict,
            data_root=args.data_root,
            size=args.image_size,
        )
        print(f"{run_dir}: wrote {len(written) - 2} images and samples.csv into {args.out_root / name}")
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)
