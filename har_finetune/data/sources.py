"""Find and read a dataset: a Hub id or local copy, a folder-per-class tree, or the Kaggle CSV release.

Every source becomes a `LabelledImages`: parallel lists of ids, class names and source splits, plus a
picklable reader that returns an image's raw bytes by id. Labels come only from the CSV or from the class
folders we list ourselves (never from ImageFolder or `load_dataset("imagefolder")`, which turn `train/`,
`test/` or hidden folders into classes).
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import UserError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
KAGGLE_CSV = "Training_set.csv"


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


def is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def load_source(dataset: str, image_column: str | None = None, label_column: str | None = None) -> LabelledImages:
    """Detect the layout of `dataset` and list its labelled images."""
    path = Path(dataset).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"--dataset {dataset} is a file; pass the dataset folder (or a Hub dataset id)")
        if _is_hub_copy(path):
            from .hub import load_hub_copy

            return load_hub_copy(path, image_column, label_column)
        if (path / KAGGLE_CSV).is_file():
            return load_kaggle(path)
        if (path / "train").is_dir():
            return load_class_folders(path)
        raise UserError(
            f"--dataset {dataset}: unrecognised layout; expected train/<class>/* folders, the Kaggle release "
            f"(train/ + {KAGGLE_CSV}), a save_to_disk folder or parquet files"
        )
    if _looks_like_hub_id(dataset):
        from .hub import load_hub_id

        return load_hub_id(dataset, image_column, label_column)
    raise UserError(f"--dataset {dataset}: no such folder; pass the dataset folder or a Hub dataset id like "
                    "Bingsu/Human_Action_Recognition")


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _is_hub_copy(path: Path) -> bool:
    markers = ("dataset_dict.json", "dataset_info.json", "state.json")
    return any((path / m).is_file() for m in markers) or any(path.glob("*.parquet")) or any(
        path.glob("data/*.parquet"))


def _list_class_folder(folder: Path) -> dict[str, list[Path]]:
    """Images per class sub-folder; hidden folders and non-image files are ignored (and counted)."""
    classes = {}
    ignored = 0
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(class_dir.rglob("*"))
        images = [f for f in files if is_image_file(f)]
        ignored += sum(1 for f in files if f.is_file()) - len(images)
        if not images:
            raise UserError(f"class folder {class_dir} holds no images; add images or remove the folder")
        classes[class_dir.name] = images
    if ignored:
        logger.info("ignored %d non-image files in %s", ignored, folder)
    return classes


def load_class_folders(root: Path) -> LabelledImages:
    """`train/<class>/*` with an optional labelled `test/<class>/*`."""
    train = _list_class_folder(root / "train")
    if not train:
        raise UserError(f"{root / 'train'} has no class folders; expected train/<class>/<image> files")
    test = _list_class_folder(root / "test") if (root / "test").is_dir() else {}
    unknown = sorted(set(test) - set(train))
    if unknown:
        raise UserError(f"{root / 'test'}: classes {unknown} are absent from {root / 'train'}; "
                        "rename or remove those folders")
    if (root / "test").is_dir() and not test:
        logger.info("%s has no class folders (unlabelled); a test split is carved from train", root / "test")
    ids, labels, splits = [], [], []
    for split, classes in (("train", train), ("test", test)):
        for name, files in classes.items():
            for f in files:
                ids.append(f.relative_to(root).as_posix())
                labels.append(name)
                splits.append(split)
    return LabelledImages("folder", str(root), ids, labels, splits, FileReader(str(root)), sorted(train))


def load_kaggle(root: Path) -> LabelledImages:
    """Kaggle release: `Training_set.csv` (filename,label) naming files in `train/`; its test set is unlabelled."""
    csv_path = root / KAGGLE_CSV
    table = pd.read_csv(csv_path, dtype=str)
    if not {"filename", "label"} <= set(table.columns):
        raise UserError(f"{csv_path} must have columns filename,label (found {list(table.columns)})")
    ids, labels = [], []
    for row_number, (filename, label) in enumerate(zip(table["filename"], table["label"]), start=2):
        if pd.isna(filename) or pd.isna(label):
            raise UserError(f"{csv_path} line {row_number}: empty filename or label; fix or delete the row")
        ids.append(f"train/{filename.strip()}")
        labels.append(label.strip())
    _check_csv_rows(csv_path, root, ids, labels)
    logger.info("Kaggle layout: %d labelled images from %s (test/ has no labels: not used for accuracy)",
                len(ids), csv_path.name)
    return LabelledImages("kaggle", str(root), ids, labels, ["train"] * len(ids), FileReader(str(root)),
                          sorted(set(labels)))


def _check_csv_rows(csv_path: Path, root: Path, ids: list[str], labels: list[str]) -> None:
    seen: dict[str, str] = {}
    for row_number, (image_id, label) in enumerate(zip(ids, labels), start=2):
        if image_id in seen and seen[image_id] != label:
            raise UserError(f"{csv_path} line {row_number}: {image_id} is listed twice with labels "
                            f"'{seen[image_id]}' and '{label}'; keep one row")
        seen[image_id] = label
        if not (root / image_id).is_file():
            raise UserError(f"{csv_path} line {row_number}: {root / image_id} does not exist; "
                            "fix the filename or delete the row")
