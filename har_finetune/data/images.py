"""Decode images correctly and check every one before training.

`decode_rgb` is the only decoder: EXIF orientation applied, 16-bit and float images scaled (a naive
`convert("RGB")` saturates them to white), alpha composited on white, CMYK/palette/grayscale to RGB.
A full decode is the only reliable check: `Image.verify()` passes truncated JPEGs.

`scan_images` decodes every image (data/scan.py's `scan_dataset`, what a run calls, decodes only those that
changed since the recorded scan, and shares the work among ranks). A file that fails (truncated or corrupt, zero bytes,
not an image at all, over Pillow's decompression-bomb limit: `Image.MAX_IMAGE_PIXELS`, where Pillow itself only
warns up to twice that) gets a `ScanResult` with the reason, and
data/split.py skips it, counts it and lists it in `skipped_images.csv` (or stops: `--strict`,
`--max_unreadable_fraction`), instead of failing mid-epoch.
"""

import hashlib
import io
import logging
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image, ImageFile, ImageOps
from tqdm.auto import tqdm

from har_finetune.core.machine import worker_count
from har_finetune.data.near_duplicates import perceptual_hash

logger = logging.getLogger(__name__)
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, not decode as grey
ALPHA_BACKGROUND = (255, 255, 255)
SCAN_CHUNK = 16  # images per thread-pool task: a future per image costs ~0.1 ms of thread hand-offs


def quiet_bomb_warnings() -> None:
    """Pillow warns (raw, once per decode) between MAX_IMAGE_PIXELS and twice that; `decode_rgb` refuses those
    images itself, so the warning would only repeat the skip line. A process-wide filter (warnings.catch_warnings is
    not thread-safe, and the scan decodes on threads), set again by each scan before its threads start: a caller's
    `catch_warnings` block may have dropped it."""
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


quiet_bomb_warnings()


def decode_rgb(data: bytes) -> Image.Image:
    """Raw bytes -> upright 8-bit RGB image; raises on anything that is not a complete image."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = image.width * image.height
        if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:  # Pillow only warns up to twice the limit
            raise Image.DecompressionBombError(
                f"Image size ({pixels} pixels) exceeds limit of {Image.MAX_IMAGE_PIXELS} pixels, could be "
                "decompression bomb DOS attack."
            )
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # in place: no copy of an image that is already upright
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == "RGB" else image.convert("RGB")  # convert() would copy an RGB image


@dataclass(frozen=True)
class ScanResult:
    ok: bool
    content_hash: str = ""  # hash of the decoded pixels: same content = same hash, whatever the file format
    width: int = 0
    height: int = 0
    error: str = ""
    perceptual_hash: int = 0  # 64-bit pHash of the decoded pixels (data/near_duplicates.py), for readable images


def scan_one(args: tuple, on_image=None) -> ScanResult:
    reader, image_id = args
    try:
        data = reader(image_id)
    except Exception as error:  # a file that vanished or cannot be read
        return ScanResult(False, error=f"unreadable image ({type(error).__name__}: {error})")
    return scan_bytes(image_id, data, on_image)


def scan_bytes(image_id: str, data: bytes, on_image=None) -> ScanResult:
    """Decode `data` (image `image_id`'s file bytes): validity, content hash, perceptual hash and size; `on_image`
    sees the pixels."""
    if not data:
        return ScanResult(False, error="empty file (0 bytes)")
    try:
        image = decode_rgb(data)
    except Exception as error:  # decoders raise OSError, SyntaxError, struct.error...: all mean "cannot use it"
        return ScanResult(False, error=unreadable_reason(error))
    pixels = np.array(image)  # HWC uint8: the one copy out of Pillow, for the hash and the pixel cache alike
    digest = hashlib.sha256(pixels)  # SHA extensions on current CPUs: ~2.5x blake2b
    digest.update(f"{image.size}".encode())
    if on_image is not None:
        on_image(image_id, pixels)
    return ScanResult(True, digest.hexdigest()[:32], image.width, image.height, "", perceptual_hash(pixels))


def unreadable_reason(error: Exception) -> str:
    """Why a file does not decode, in plain words (Pillow's own message names a BytesIO object, not the file)."""
    if isinstance(error, Image.DecompressionBombError):
        return _bomb_reason(error)
    if isinstance(error, Image.UnidentifiedImageError):
        return "not an image (Pillow cannot identify the format)"
    return f"unreadable image ({type(error).__name__}: {error})"


def _bomb_reason(error: Exception) -> str:
    pixels = re.findall(r"\d+", str(error))  # Pillow: "Image size (N pixels) exceeds limit of M pixels, ..."
    if len(pixels) >= 2:
        return (
            f"image of {int(pixels[0]):,} pixels is over Pillow's decompression-bomb limit ({int(pixels[1]):,} pixels)"
        )
    return f"over Pillow's decompression-bomb limit: {error}"


def scan_images(reader, ids: list[str], workers: int | None = None, on_image=None) -> list[ScanResult]:
    """Decode every image once (all cores, with a progress bar); returns one result per id, in order.

    `on_image(image_id, pixels)`, if given, sees each decoded image as HWC uint8 (in a worker thread): the pixel
    cache (cache.ScanRecorder) keeps them, so that no image is decoded twice.

    Threads, not processes: Pillow and hashlib release the GIL while decoding and hashing, and forking a
    process that already runs torch threads can deadlock.
    """
    workers = workers or worker_count()
    quiet_bomb_warnings()
    chunks = [ids[start : start + SCAN_CHUNK] for start in range(0, len(ids), SCAN_CHUNK)]
    results = []
    with (
        ThreadPoolExecutor(workers) as pool,
        tqdm(total=len(ids), desc=f"checking {len(ids)} images", mininterval=2) as progress,
    ):
        for chunk_results in pool.map(partial(_scan_chunk, reader, on_image=on_image), chunks):
            results.extend(chunk_results)
            progress.update(len(chunk_results))
    return results


def _scan_chunk(reader, image_ids: list[str], on_image=None) -> list[ScanResult]:
    return [scan_one((reader, image_id), on_image) for image_id in image_ids]
