"""Thumbnails of the test images for the page: one small JPEG per image (160 px on the long side), however many runs
and views show it, in `<report>/thumbs/`.

Each file is named by a hash of the dataset and the image id, never by the id itself: ids come from the user's files
and may hold `../`, quotes or markup, and nothing may be written outside the report folder. Images are decoded by
the data layer's decoder (EXIF orientation, 16-bit scaling), as the model saw them. An image that cannot be read
(a dataset moved since training) gets no thumbnail and the page shows its id instead; one note says why.
"""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from har_finetune.core.errors import UserError
from har_finetune.core.machine import available_cpus
from har_finetune.reporting.html.bundle import write_file
from har_finetune.reporting.samples import ImageSource

THUMBS = "thumbs"
LONG_SIDE = 160
QUALITY = 80  # JPEG quality: ~5 KB per HAR thumbnail


@dataclass
class Thumbnails:
    """`paths[(root, id)]`: the thumbnail's path relative to the report folder (absent: no thumbnail)."""

    paths: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def thumbnail_name(root: str, image_id: str) -> str:
    digest = hashlib.sha256(f"{root}\0{image_id}".encode()).hexdigest()[:24]
    return f"{THUMBS}/{digest}.jpg"


def thumbnail_bytes(image: Image.Image) -> bytes:
    image = image.copy()
    image.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=QUALITY, optimize=True)
    return buffer.getvalue()


def write_thumbnails(out_dir: Path, wanted: dict[str, tuple[dict, set[str]]]) -> Thumbnails:
    """Thumbnails of the images `wanted[root] = (dataset, ids)` (run_config.json's dataset) into `out_dir/thumbs/`."""
    result = Thumbnails()
    jobs = [(root, dataset, image_id) for root, (dataset, ids) in wanted.items() for image_id in sorted(ids)]
    sources = {root: ImageSource(dataset) for root, (dataset, _) in wanted.items()}
    failures: dict[str, list[str]] = {}

    def one(job: tuple[str, dict, str]) -> None:
        root, _, image_id = job
        name = thumbnail_name(root, image_id)
        try:
            write_file(out_dir / name, thumbnail_bytes(sources[root].open(image_id)))
        except (UserError, OSError, ValueError, Image.DecompressionBombError) as e:
            failures.setdefault(root, []).append(f"{image_id}: {e}")
            return
        result.paths[(root, image_id)] = name

    with ThreadPoolExecutor(max_workers=available_cpus()) as pool:  # Pillow decodes and encodes without the GIL
        list(pool.map(one, jobs))
    for root, problems in failures.items():
        result.notes.append(
            f"{len(problems):,} test images of {root} could not be read, so the page shows their ids without a "
            f"picture (first: {problems[0]})."
        )
    return result
