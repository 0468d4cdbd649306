"""Annotated test images (ground truth, prediction, confidence; green if right, red if wrong) and a grid of them.

Run: `python visualize_predictions.py outputs/clip outputs/siglip` -> SampleOutputs/CLIP/, SampleOutputs/SigLIP/.
Reads the run folder (test_predictions.csv + the dataset named in run_config.json); loads the saved model only when
asked to re-predict (`--repredict`) or when the run has no test_predictions.csv. Runs on CPU.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from har_finetune.data.images import decode_rgb
from har_finetune.reporting.loading import shown_path
from har_finetune.run_folder import reader as rr
from har_finetune.run_folder.files import write_bytes, write_text
from har_finetune.run_folder.reader import RunRecord

CORRECT, WRONG = (22, 130, 50), (200, 30, 30)  # caption band colours
BACKGROUND = (235, 235, 235)
GRID_TILE = 320  # longer side of each grid tile: 16 tiles make a ~1,300 px wide sheet with 16 px captions
SAMPLE_FILE = re.compile(r"^\d{2,}_(correct|wrong)_.+\.png$")
SAMPLES_TABLE = "samples.csv"
SAMPLE_COLUMNS = ["file", "id", "label", "prediction", "confidence", "run"]  # run: whose samples these are
Predictor = Callable[[list[Image.Image]], list[tuple[str, float]]]


def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib) at `size` pixels; Pillow's scalable default font otherwise."""
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (ImportError, OSError, ValueError):
        return ImageFont.load_default(size)


def annotate(image: Image.Image, label: str, prediction: str, confidence: float | None, size: int = 512) -> Image.Image:
    """The image scaled (aspect kept) so its longer side is `size`, above a caption band coloured by correctness.

    The font scales with `size`, not with the image, so captions read the same for tiny and huge photos; the canvas
    widens (image centred) when a caption is wider than a tall, narrow image.
    """
    image = image.convert("RGB")
    scale = size / max(image.size)
    image = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    text_font = font(max(14, size // 20))  # 512 px -> 25 px text, 320 px -> 16 px
    confidence_text = "" if confidence is None or pd.isna(confidence) else f" ({confidence:.0%})"
    lines = [f"true: {label}", f"pred: {prediction}{confidence_text}"]
    pad = max(4, size // 64)
    line_height = text_font.getbbox("Ag")[3] + pad
    text_width = max(math.ceil(text_font.getlength(line)) for line in lines)
    width = max(image.width, text_width + 2 * pad)
    canvas = Image.new("RGB", (width, image.height + len(lines) * line_height + pad), BACKGROUND)
    canvas.paste(image, ((width - image.width) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, image.height, width, canvas.height), fill=CORRECT if label == prediction else WRONG)
    for k, line in enumerate(lines):
        draw.text((pad, image.height + pad // 2 + k * line_height), line, fill="white", font=text_font)
    return canvas


def grid(tiles: list[Image.Image], title: str, columns: int | None = None) -> Image.Image:
    """Tiles in rows under a title; each tile centred in a cell as large as the largest tile."""
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cell_w, cell_h, gap = max(t.width for t in tiles), max(t.height for t in tiles), 8
    title_font = font(max(16, cell_w // 12))
    header = title_font.getbbox("Ag")[3] + 2 * gap
    width = max(columns * (cell_w + gap) + gap, math.ceil(title_font.getlength(title)) + 2 * gap)
    sheet = Image.new("RGB", (width, header + rows * (cell_h + gap) + gap), "white")
    ImageDraw.Draw(sheet).text((gap, gap), title, fill="black", font=title_font)
    for k, tile in enumerate(tiles):
        x = gap + (k % columns) * (cell_w + gap) + (cell_w - tile.width) // 2
        y = header + (k // columns) * (cell_h + gap) + (cell_h - tile.height) // 2
        sheet.paste(tile, (x, y))
    return sheet


class ImageSource:
    """Opens test images by their run-folder `id` (a path under the dataset root, or `<split>/<row>` of Hub data)
    through the data layer's readers and decoder, so a sample looks exactly like what the model saw (EXIF
    orientation, 16-bit scaling, alpha on white)."""

    def __init__(self, dataset: dict, root: Path | None = None):
        self.root = str(root or dataset.get("root") or ".")
        self.dataset = {**dataset, "root": self.root}
        self._reader = None

    def open(self, image_id: str) -> Image.Image:
        try:
            return decode_rgb(self._read(image_id))
        except FileNotFoundError:
            raise rr.RunFolderError(
                f"image {image_id!r} not found under {self.root} (dataset.root in run_config.json); "
                "pass --data_root if the dataset moved"
            ) from None

    def _read(self, image_id: str) -> bytes:
        if self._reader is None:  # Hub data opens its Arrow files once, on the first image
            from har_finetune.data.sources import image_reader  # the data layer imports torch: only to read images

            self._reader = image_reader(self.dataset)
        return self._reader(image_id)


def candidate_pool(record: RunRecord) -> pd.DataFrame:
    """Test images as id/label (+prediction/confidence when known): test_predictions.csv, else split.csv's test rows."""
    pool = record.test_images()
    if pool is None:
        raise rr.RunFolderError(
            f"{record.run_dir} has neither test_predictions.csv nor split.csv: nothing to visualise"
        )
    if pool.empty:
        raise rr.RunFolderError(f"{record.run_dir} has no test images in test_predictions.csv or split.csv")
    return pool


def shuffled(pool: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The pool sorted by id, then permuted by `seed`: runs sharing a test split get the same images."""
    pool = pool.sort_values("id", kind="stable").reset_index(drop=True)
    return pool.iloc[np.random.default_rng(seed).permutation(len(pool))].reset_index(drop=True)


def pick(rows: Iterable[dict], count: int, only_mistakes: bool, one_per_class: bool) -> list[dict]:
    """The first `count` rows that pass the filters; reads `rows` lazily so re-predicting stops early."""
    chosen, seen = [], set()
    for row in rows:
        if (only_mistakes and row["label"] == row["prediction"]) or (one_per_class and row["label"] in seen):
            continue
        seen.add(row["label"])
        chosen.append(row)
        if len(chosen) == count:
            break
    return sorted(chosen, key=lambda r: r["label"]) if one_per_class else chosen


def predicted_rows(pool: pd.DataFrame, source: ImageSource, predict: Predictor, chunk: int = 16) -> Iterator[dict]:
    """Rows of `pool` with the model's prediction and confidence, predicted `chunk` images at a time."""
    for start in range(0, len(pool), chunk):
        rows = pool.iloc[start : start + chunk].to_dict("records")
        for row, (prediction, confidence) in zip(rows, predict([source.open(r["id"]) for r in rows])):
            yield {**row, "prediction": prediction, "confidence": confidence}


def model_predictor(run_dir: Path) -> Predictor:
    """Top-1 label and softmax probability from the run's saved model, via transformers' pipeline (CPU)."""
    from transformers import pipeline

    from har_finetune.models import zero_shot_head  # noqa: F401  registers the model class of --head zero_shot runs

    classify = pipeline("image-classification", model=str(run_dir), device="cpu")

    def predict(images: list[Image.Image]) -> list[tuple[str, float]]:
        outputs = classify(images, top_k=1)
        return [(out[0]["label"], float(out[0]["score"])) for out in outputs]

    return predict


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def sample_file(index: int, row: dict) -> str:
    """`03_wrong_calling_as_texting.png` / `04_correct_cycling.png`: sortable and readable in a file list."""
    label, prediction = (re.sub(r"[^\w.-]+", "-", str(row[k])) for k in ("label", "prediction"))
    if label == prediction:
        return f"{index:02d}_correct_{label}.png"
    return f"{index:02d}_wrong_{label}_as_{prediction}.png"


def write_samples(
    chosen: list[dict], source: ImageSource, out_dir: Path, title: str, size: int, subtitle: str = ""
) -> list[Path]:
    """One annotated PNG per sample, `grid.png` and `samples.csv` into `out_dir`; older sample PNGs are removed."""
    written, tiles = [], []
    for index, row in enumerate(chosen, start=1):
        image = source.open(row["id"])
        label, prediction, confidence = row["label"], row["prediction"], row.get("confidence")
        big = annotate(image, label, prediction, confidence, size)
        written.append(write_bytes(out_dir / sample_file(index, row), png_bytes(big)))
        tiles.append(annotate(image, label, prediction, confidence, GRID_TILE))
        row["file"] = written[-1].name
    correct = sum(r["label"] == r["prediction"] for r in chosen)
    sheet = grid(tiles, f"{title}: {correct} of {len(chosen)} correct{subtitle}")
    written.append(write_bytes(out_dir / "grid.png", png_bytes(sheet)))
    table = pd.DataFrame(chosen).reindex(columns=SAMPLE_COLUMNS)
    written.append(write_text(out_dir / SAMPLES_TABLE, table.to_csv(index=False)))
    keep = {p.name for p in written}
    for stale in out_dir.iterdir():
        if SAMPLE_FILE.match(stale.name) and stale.name not in keep:
            stale.unlink()
    return written


@dataclass(frozen=True)
class SampleOptions:
    """Which test images to show and how (visualize_predictions.py's flags)."""

    count: int = 16
    seed: int = 0  # which images: the same seed on the same test split gives the same images
    only_mistakes: bool = False
    one_per_class: bool = False
    repredict: bool = False  # predict with the saved model instead of test_predictions.csv
    data_root: Path | None = None  # the dataset, if it moved since training
    size: int = 512  # longer side of each annotated image, px

    @property
    def subtitle(self) -> str:
        modes = [
            mode
            for mode, on in (
                ("only mistakes", self.only_mistakes),
                ("one per class", self.one_per_class),
                ("re-predicted", self.repredict),
            )
            if on
        ]
        return f" ({', '.join(modes + [f'sampling seed {self.seed}'])})"


def samples_owner(folder: Path) -> Path | None:
    """The run whose samples `folder` holds (samples.csv's `run` column), resolved; None when there are none or
    they were written before the column existed."""
    path = Path(folder) / SAMPLES_TABLE
    if not path.is_file():
        return None
    try:
        runs = pd.read_csv(path, usecols=["run"], keep_default_na=False)["run"]
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    return Path(runs.iloc[0]).resolve() if len(runs) and runs.iloc[0] else None


def visualize_run(record: RunRecord, out_dir: Path, title: str, options: SampleOptions = SampleOptions()) -> list[Path]:
    """Choose test samples of one run (seeded) and write them annotated into `out_dir`; returns the files written.

    Predictions come from test_predictions.csv, or from the saved model when `options.repredict` is set or the CSV
    is absent.
    """
    run_dir = record.run_dir
    source = ImageSource(record.dataset, options.data_root)
    predictions = record.predictions
    pool = shuffled(candidate_pool(record), options.seed)
    if options.repredict or predictions is None:
        if not record.has_model:
            raise rr.RunFolderError(
                f"{run_dir} has no saved model (config.json) to predict with"
                + ("" if predictions is None else "; drop --repredict to use test_predictions.csv")
            )
        rows = predicted_rows(pool[["id", "label"]], source, model_predictor(run_dir))
    else:
        rows = pool.to_dict("records")
    chosen = pick(rows, options.count, options.only_mistakes, options.one_per_class)
    if not chosen:
        raise rr.RunFolderError(f"no test image of {run_dir} passes the filters (only mistakes on a perfect run?)")
    for row in chosen:
        row["run"] = shown_path(run_dir)
    return write_samples(chosen, source, Path(out_dir), title, options.size, options.subtitle)
