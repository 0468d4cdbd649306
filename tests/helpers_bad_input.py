"""Generated bad input for tests/test_bad_input.py, tests/test_faults.py and tests/test_model_and_data_errors.py.

Not a test file: broken and unusual image files made in memory, a small dataset, a tiny checkpoint, fast flags.
"""

import hashlib
import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
from argv import training_argv
from PIL import Image

from har_finetune.data.synthetic import make_synthetic_har, synthetic_image
from har_finetune.models.tiny import make_tiny_checkpoint

CLASSES = ("calling", "clapping", "cycling")
RED = (200, 30, 40)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo_jpeg(seed: int = 0, size: tuple[int, int] = (48, 40)) -> bytes:
    return encode(synthetic_image(seed % 3, 3, random.Random(seed), size), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    data = photo_jpeg(1)
    return data[: len(data) // 2]  # Image.verify() accepts it; only a full decode fails


def corrupt_jpeg() -> bytes:
    data = bytearray(photo_jpeg(2))
    data[200:260] = b"\xff\xd9" * 30  # end-of-image markers inside the entropy-coded data
    return bytes(data)


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels, with no pixel data: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


BROKEN_FILES = {  # name -> (bytes, words the skip reason must contain)
    "truncated.jpg": (truncated_jpeg(), "unreadable"),
    "zero_bytes.jpg": (b"", "0 bytes"),
    "corrupt.jpg": (corrupt_jpeg(), "unreadable"),
    "notes_renamed.jpg": (b"these are my notes, not a picture\n" * 20, "not an image"),
    "bomb.png": (png_claiming_size(20_000, 20_000), "400,000,000 pixels"),
}


def odd_format_files() -> dict[str, bytes]:
    """Readable files in every mode/format the decoder must convert: red on the left, and on the right half red
    again, or transparent where the format has alpha. Each has its own size, so that none is a duplicate."""
    sizes = iter((40 + 2 * i, 32) for i in range(20))
    red = Image.new("RGB", next(sizes), RED)
    palette_transparent = Image.new("P", next(sizes), 0)
    palette_transparent.putpalette([0, 0, 0, *RED] + [0] * 762)
    palette_transparent.paste(1, (0, 0, 20, 32))  # left part red, the rest transparent (index 0)
    rgba = Image.new("RGBA", next(sizes), (*RED, 255))
    rgba.paste((0, 0, 255, 0), (20, 0, rgba.width, 32))  # the rest fully transparent blue
    return {
        "cmyk.jpg": encode(red.convert("CMYK"), "JPEG", quality=95),
        "palette_transparent.png": encode(palette_transparent, "PNG", transparency=0),
        "rgba.png": encode(rgba, "PNG"),
        "gray.png": encode(Image.new("L", next(sizes), 77), "PNG"),
        "palette.png": encode(Image.new("RGB", next(sizes), RED).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "gray16.png": encode(Image.fromarray(np.full((32, next(sizes)[0]), 32768, np.uint16)), "PNG"),
        "lossless.webp": encode(Image.new("RGB", next(sizes), RED), "WEBP", lossless=True),
        "UPPER.JPG": encode(Image.new("RGB", next(sizes), RED), "JPEG", quality=95),
        "exif_rotated.jpg": exif_rotated_jpeg(),
    }


def exif_rotated_jpeg() -> bytes:
    """Stored 40x20 with a green block top-left and EXIF orientation 6 (rotate 90 degrees clockwise to view)."""
    image = Image.new("RGB", (40, 20), RED)
    image.paste((0, 255, 0), (0, 0, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def junk_files(class_dir: Path) -> list[Path]:
    """What real folders collect: OS metadata, notes, notebook checkpoints; none of it is an image or a class."""
    hidden = class_dir / ".ipynb_checkpoints"
    hidden.mkdir(parents=True, exist_ok=True)
    files = {
        class_dir / ".DS_Store": b"\x00\x00\x00\x01Bud1",
        class_dir / "Thumbs.db": b"\xd0\xcf\x11\xe0",
        class_dir / "notes.txt": b"shot on my phone",
        hidden / "image-checkpoint.jpg": photo_jpeg(7),
    }
    for path, data in files.items():
        path.write_bytes(data)
    return list(files)


def make_dataset(root: Path, per_class: int = 8) -> Path:
    """`root/train/<class>/*.jpg` for the 3 CLASSES, no duplicates."""
    return make_synthetic_har(root, images_per_class=per_class, classes=CLASSES, duplicates=0)


_checkpoints: dict[str, Path] = {}


def tiny_checkpoint(tmp_path_factory, model_type: str = "clip") -> str:
    """A tiny random checkpoint, made once per test session."""
    if model_type not in _checkpoints:
        _checkpoints[model_type] = make_tiny_checkpoint(model_type, tmp_path_factory.mktemp(f"tiny-{model_type}"))
    return str(_checkpoints[model_type])


def flags(dataset: Path | str, checkpoint: str, out: Path, *extra: str) -> list[str]:
    """A run of a few steps on CPU, evaluating and saving every 2 steps."""
    return training_argv(
        dataset, checkpoint, out,
        "--max_steps", "6", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8",
        "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "steps", "--save_steps", "2",
        "--logging_steps", "1", "--warmup_steps", "0", "--seed", "0", *extra,
    )  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """relative path -> content hash of every file under `folder` (to show that nothing changed)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
