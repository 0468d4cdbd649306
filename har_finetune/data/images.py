"""Decode images correctly and check every one before training.

`decode_rgb` is the only decoder: EXIF orientation applied, 16-bit and float images scaled (a naive
`convert("RGB")` saturates them to white), alpha composited on white, CMYK/palette/grayscale to RGB.
A full decode is the only reliable check: `Image.verify()` passes truncated JPEGs.
"""

import hashlib
import io
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, not decode as grey
ALPHA_BACKGROUND = (255, 255, 255)


def decode_rgb(data: bytes) -> Image.Image:
    """Raw bytes -> upright 8-bit RGB image; raises on anything that is not a complete image."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


@dataclass(frozen=True)
class ScanResult:
    ok: bool
    content_hash: str = ""  # hash of the decoded pixels: same content = same hash, whatever the file format
    width: int = 0
    height: int = 0
    error: str = ""


def scan_one(args: tuple) -> ScanResult:
    reader, image_id = args
    try:
        data = reader(image_id)
        if not data:
            return ScanResult(False, error="empty file (0 bytes)")
        image = decode_rgb(data)
    except Image.DecompressionBombError as error:
        return ScanResult(False, error=f"too large for Pillow's decompression-bomb limit: {error}")
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as error:
        return ScanResult(False, error=f"unreadable image: {error}")
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(f"{image.size}".encode())
    return ScanResult(True, digest.hexdigest(), image.width, image.height)


def scan_images(reader, ids: list[str], workers: int | None = None) -> list[ScanResult]:
    """Decode every image once (all cores, with a progress bar); returns one result per id, in order.

    Threads, not processes: Pillow and hashlib release the GIL while decoding and hashing, and forking a
    process that already runs torch threads can deadlock.
    """
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 16))
    jobs = [(reader, image_id) for image_id in ids]
    with ThreadPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(scan_one, jobs), total=len(jobs), desc=f"checking {len(ids)} images",
                         mininterval=2))
