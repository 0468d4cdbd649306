"""What every dataset source becomes: parallel lists of ids, labels and source splits, and a reader of raw bytes.

Its own module so that the sources (sources.py, hub.py) depend on it and not on each other.
"""

from dataclasses import dataclass, field
from pathlib import Path

from har_finetune.data.scan_record import file_stamp


@dataclass
class LabelledImages:
    kind: str  # "folder", "kaggle" or "hub"
    root: str  # dataset folder, or the Hub id
    ids: list[str]
    labels: list[str]
    source_splits: list[str]  # "train" or "test" as supplied by the source
    reader: object  # callable id -> bytes, picklable for worker processes
    class_names: list[str] = field(default_factory=list)
    image_column: str | None = None
    label_column: str | None = None


class FileReader:
    def __init__(self, root: str):
        self.root = Path(root)

    def __call__(self, image_id: str) -> bytes:
        return (self.root / image_id).read_bytes()

    def stamp(self, image_id: str) -> tuple[int, int, int, int]:
        """What the recorded scan compares to know the file unchanged without reading it (data/scan_record.py)."""
        return file_stamp(self.root / image_id)
