"""Classify images with a finished run: top-k labels with probabilities, on the terminal and in a CSV.

    python -m har_finetune.predict outputs/siglip photo.jpg more_photos/        # top 5, ./predictions.csv
    python -m har_finetune.predict outputs/clip photos/ --top_k 3 --output clip_predictions.csv --quiet

Folders are searched recursively for image files (.jpg, .png, .webp, ...); hidden files are skipped. Files that
cannot be decoded are reported on stderr and skipped. Runs on the GPU when there is one, in batches, with a
progress bar for many images. The CSV has one row per image, in the order found:
`path,label_1,probability_1,...,label_k,probability_k` (softmax probabilities, most likely first).

In Python, `load_run(run_dir)` loads any run, including `--head zero_shot` runs, without `trust_remote_code`.
"""

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    BaseImageProcessor,
    PreTrainedModel,
)

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import UserError
from har_finetune.data.images import decode_rgb, unreadable_reason
from har_finetune.data.sources import is_image_file
from har_finetune.models import zero_shot_head  # noqa: F401  registers --head zero_shot runs with the Auto classes
from har_finetune.models.load_messages import quiet_loading
from har_finetune.reporting.loading import run_folders
from har_finetune.run_folder.files import is_run_folder, write_csv
from har_finetune.run_folder.reader import RunRecord


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[PreTrainedModel, BaseImageProcessor]:
    """The run's saved model (in eval mode, on `device`) and its image processor."""
    run_dir = Path(run_dir)
    if not RunRecord(run_dir).has_model:
        raise UserError(f"{run_dir} holds no saved model (config.json): pass the folder of a finished run")
    with quiet_loading():  # SigLIP configs warn about text token ids, meaningless for an image classifier
        config = AutoConfig.from_pretrained(run_dir)
        check_has_class_names(config.id2label, run_dir)
        model = AutoModelForImageClassification.from_pretrained(run_dir, config=config, dtype=torch.float32)
    return model.to(device).eval(), AutoImageProcessor.from_pretrained(run_dir)


def chosen_run(path: Path) -> Path:
    """The run to predict with, by the reporting commands' folder rule (reporting/loading.py): `path` itself, or the
    one run folder under it; a folder of several runs (a campaign) is refused, naming them, since predictions come
    from one model."""
    if is_run_folder(path) or not path.is_dir():
        return path
    runs = run_folders(path)
    if len(runs) > 1:
        names = ", ".join(str(run.relative_to(path)) for run in runs[:4]) + (", ..." if len(runs) > 4 else "")
        raise UserError(f"{path} holds {len(runs)} runs ({names}): predict with one of them, e.g. {runs[0]}")
    if runs:
        print(f"{path}: predicting with the run in it, {runs[0]}", file=sys.stderr)
    return runs[0] if runs else path


def check_has_class_names(id2label: dict, run_dir: Path) -> None:
    """A plain checkpoint (not fine-tuned by us) has placeholder labels LABEL_0, LABEL_1...: its predictions mean
    nothing, so refuse it rather than print `LABEL_0 78.6%`."""
    if all(re.fullmatch(r"LABEL_\d+", str(label)) for label in id2label.values()):
        raise UserError(
            f"{run_dir} is not a fine-tuned classifier: its labels are placeholders "
            f"({', '.join(list(map(str, id2label.values()))[:3])}...), not class names; pass the run folder of a "
            "finished fine_tune_har_clip.py / fine_tune_har_siglip.py run"
        )


def find_images(paths: list[str | Path]) -> list[Path]:
    """Files as given (any extension), image files under folders (sorted, recursive)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if is_image_file(p) and not _hidden(p.relative_to(path)))
        elif path.is_file():
            found.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return found


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


@torch.inference_mode()
def predict(
    model: PreTrainedModel, processor: BaseImageProcessor, images: list[Image.Image], top_k: int
) -> list[list[tuple[str, float]]]:
    """For each image, the `top_k` (label, probability) pairs, most likely first."""
    device = next(model.parameters()).device
    inputs = processor(images=images, return_tensors="pt").to(device)
    probabilities = model(**inputs).logits.float().softmax(dim=-1)
    values, indices = probabilities.topk(min(top_k, probabilities.shape[-1]), dim=-1)
    labels = model.config.id2label
    return [
        [(labels[int(i)], float(v)) for v, i in zip(row_values, row_indices)]
        for row_values, row_indices in zip(values.cpu(), indices.cpu())
    ]


def predict_files(
    model, processor, files: list[Path], top_k: int, batch_size: int, skipped: list[tuple[Path, str]]
) -> Iterator[tuple[Path, list[tuple[str, float]]]]:
    """Decode and classify `files` in batches; unreadable files go to `skipped` as (path, reason)."""
    batch: list[tuple[Path, Image.Image]] = []
    progress = tqdm(total=len(files), unit="img", desc="predicting", disable=True if len(files) <= batch_size else None)
    for index, path in enumerate(files):
        try:
            data = path.read_bytes()
            if data:
                batch.append((path, decode_rgb(data)))
            else:
                skipped.append((path, "empty file (0 bytes)"))
        except Exception as error:  # noqa: BLE001  whatever fails to read or decode one file skips that file only
            skipped.append((path, unreadable_reason(error)))
        if len(batch) == batch_size or (index == len(files) - 1 and batch):
            yield from zip([p for p, _ in batch], predict(model, processor, [image for _, image in batch], top_k))
            batch = []
        progress.update()
    progress.close()


def results_table(rows: list[tuple[Path, list[tuple[str, float]]]]) -> pd.DataFrame:
    k = max((len(top) for _, top in rows), default=0)
    columns = ["path"] + [f"{name}_{rank}" for rank in range(1, k + 1) for name in ("label", "probability")]
    records = [[str(path)] + [x for label, p in top for x in (label, round(p, 6))] for path, top in rows]
    return pd.DataFrame(records, columns=columns)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m har_finetune.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run_dir", type=Path, help="run folder of a finished training run (or a folder holding exactly one)"
    )
    parser.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    parser.add_argument("--top_k", type=int, default=5, help="labels per image (default 5)")
    parser.add_argument("--batch_size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--output", type=Path, default=Path("predictions.csv"), help="CSV file (./predictions.csv)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    parser.add_argument("--quiet", action="store_true", help="no line per image on the terminal, only the summary")
    args = parser.parse_args(argv)
    if args.top_k < 1 or args.batch_size < 1:
        parser.error("--top_k and --batch_size must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    files = find_images(args.paths)
    if not files:
        raise UserError(f"no image files in {' '.join(args.paths)}")
    model, processor = load_run(chosen_run(args.run_dir), args.device)
    rows, skipped = [], []
    for path, top in predict_files(model, processor, files, args.top_k, args.batch_size, skipped):
        rows.append((path, top))
        if not args.quiet:
            tqdm.write(f"{path}: " + ", ".join(f"{label} {100 * p:.1f}%" for label, p in top))
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not rows:
        raise UserError(f"none of the {len(files)} files could be read as an image")
    write_csv(args.output, results_table(rows))
    print(f"{len(rows)} image{'s' * (len(rows) != 1)} classified, {len(skipped)} skipped; wrote {args.output}")
    return 0


def cli() -> None:
    """The console script (pyproject.toml)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
