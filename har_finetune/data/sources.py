"""Find and read a dataset: a Hub id or local copy, a folder-per-class tree, or the Kaggle CSV release.

Every source becomes a `LabelledImages`: parallel lists of ids, class names and source splits, plus a
picklable reader that returns an image's raw bytes by id. Labels come only from the CSV or from the class
folders we list ourselves (never from ImageFolder or `load_dataset("imagefolder")`, which turn `train/`,
`test/` or hidden folders into classes).

Class list: the `train/` class folders; for the Kaggle release, the labels of its CSV. A CSV label that looks
like a misspelling (a case/space variant of another label or of a HAR class, or a close match to a label with
10x as many rows, or to a HAR class absent from a CSV whose labels are mostly HAR classes) is an error naming
its line; other new labels are classes of their own (a dataset may extend HAR).
"""

import difflib
import logging
import os
from pathlib import Path

import pandas as pd

from har_finetune.core.defaults import HAR_CLASSES
from har_finetune.core.errors import UserError
from har_finetune.core.local_paths import looks_like_local_path, missing_path_message
from har_finetune.data.labelled import FileReader, LabelledImages
from har_finetune.run_folder.files import is_output_folder

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
KAGGLE_CSV = "Training_set.csv"
NOT_CLASS_FOLDERS = {"__MACOSX"}  # resource forks left by unzipping on macOS
# files our own tools write (a run folder, plots, a comparison report): a folder holding one is output, not a class


def is_image_file(path: Path) -> bool:
    """By name (upper-case extensions too); whether it decodes is checked by images.scan_images."""
    return path.is_file() and _is_image_name(path.name)


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in NOT_CLASS_FOLDERS


def load_source(dataset: str, image_column: str | None = None, label_column: str | None = None) -> LabelledImages:
    """Detect the layout of `dataset` and list its labelled images."""
    check_dataset_path(dataset)
    path = Path(dataset).expanduser()
    if path.exists():
        if _is_hub_copy(path):
            from har_finetune.data.hub import load_hub_copy

            return load_hub_copy(path, image_column, label_column)
        if (path / KAGGLE_CSV).is_file():
            return load_kaggle(path)
        if (path / "train").is_dir():
            return load_class_folders(path)
        _refuse_folder_inside_dataset(dataset, path)
        raise UserError(
            f"--dataset {dataset}: unrecognised layout; expected train/<class>/* folders, the Kaggle release "
            f"(train/ + {KAGGLE_CSV}), a save_to_disk folder or parquet files"
        )
    from har_finetune.data.hub import load_hub_id

    return load_hub_id(dataset, image_column, label_column)


def check_dataset_path(dataset: str) -> None:
    """What `--dataset` cannot be, known without reading it: a file, or a missing folder (a name that is no Hub id
    `owner/name`, or one that looks local: core/local_paths.py). A Hub id is looked up when the data is loaded."""
    path = Path(dataset).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"--dataset {dataset} is a file; pass the dataset folder (or a Hub dataset id)")
        return
    if _looks_like_hub_id(dataset) and not looks_like_local_path(dataset):
        return
    raise UserError(
        missing_path_message(
            "--dataset", dataset, "the dataset folder or a Hub dataset id like Bingsu/Human_Action_Recognition"
        )
    )


def _refuse_folder_inside_dataset(dataset: str, path: Path) -> None:
    """A dataset's train/ or test/ folder, or a class folder in one, names the dataset folder above it."""
    for above in (path.parent, path.parent.parent):
        if (above / "train").is_dir() or (above / KAGGLE_CSV).is_file():
            inside = path.resolve().relative_to(above.resolve()).as_posix()
            raise UserError(
                f"--dataset {dataset} is the {inside}/ folder inside a dataset; pass the dataset folder: "
                f"--dataset {above}"
            )


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _is_hub_copy(path: Path) -> bool:
    markers = ("dataset_dict.json", "dataset_info.json", "state.json")
    return any((path / m).is_file() for m in markers) or any(path.glob("*.parquet")) or any(path.glob("data/*.parquet"))


def _list_class_folder(folder: Path) -> dict[str, list[Path]]:
    """Images per class sub-folder, nested folders included; hidden folders (`.ipynb_checkpoints`), `__MACOSX`
    and files that are not images (`.DS_Store`, `Thumbs.db`, notes) are ignored and counted."""
    classes = {}
    ignored: list[str] = []  # names, folders with a trailing "/"
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if _is_hidden(class_dir.name) or is_output_folder(class_dir):
            ignored.append(class_dir.name + "/")
            continue
        images = []
        for parent, dirs, files in os.walk(class_dir):
            skip = {d for d in dirs if _is_hidden(d) or is_output_folder(Path(parent) / d)}
            ignored += [d + "/" for d in sorted(skip)]
            dirs[:] = sorted(set(dirs) - skip)
            images += [Path(parent) / name for name in sorted(files) if _is_image_name(name)]
            ignored += [name for name in files if not _is_image_name(name)]
        if not images:
            raise UserError(f"class folder {class_dir} holds no images; add images or remove the folder")
        classes[class_dir.name] = images
    if ignored:
        logger.info(
            "ignored %s of %s that %s not images, hidden or run outputs (%s)",
            "1 entry" if len(ignored) == 1 else f"{len(ignored)} entries",
            folder,
            "is" if len(ignored) == 1 else "are",
            ", ".join(sorted(set(ignored))[:5]) + (", ..." if len(set(ignored)) > 5 else ""),
        )
    return classes


def load_class_folders(root: Path) -> LabelledImages:
    """`train/<class>/*` with an optional labelled `test/<class>/*`."""
    train = _list_class_folder(root / "train")
    if not train:
        raise UserError(f"{root / 'train'} has no class folders; expected train/<class>/<image> files")
    test = _list_class_folder(root / "test") if (root / "test").is_dir() else {}
    unknown = sorted(set(test) - set(train))
    if unknown:
        raise UserError(
            f"{root / 'test'}: classes {unknown} are absent from {root / 'train'}; rename or remove those folders"
        )
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
    try:  # only empty cells are missing values: a label or file named "NA" stays a string
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError) as error:  # pandas' EmptyDataError and ParserError are ValueErrors
        raise UserError(
            f"{csv_path} is not a readable CSV ({type(error).__name__}: {error}); expected a "
            "filename,label header and one row per image"
        ) from None
    if not {"filename", "label"} <= set(table.columns):
        raise UserError(f"{csv_path} must have columns filename,label (found {list(table.columns)})")
    if table.empty:
        raise UserError(f"{csv_path} has no rows; expected one filename,label row per image")
    ids, labels = [], []
    for row_number, (filename, label) in enumerate(zip(table["filename"], table["label"]), start=2):
        if pd.isna(filename) or pd.isna(label) or not filename.strip() or not label.strip():
            raise UserError(f"{csv_path} line {row_number}: empty filename or label; fix or delete the row")
        ids.append(f"train/{filename.strip()}")
        labels.append(label.strip())
    _check_csv_rows(csv_path, root, ids, labels)
    _check_label_names(csv_path, labels)
    logger.info(
        "Kaggle layout: %d labelled images from %s (test/ has no labels: not used for accuracy)",
        len(ids),
        csv_path.name,
    )
    return LabelledImages(
        "kaggle", str(root), ids, labels, ["train"] * len(ids), FileReader(str(root)), sorted(set(labels))
    )


def _check_csv_rows(csv_path: Path, root: Path, ids: list[str], labels: list[str]) -> None:
    seen: dict[str, str] = {}
    missing = []
    for row_number, (image_id, label) in enumerate(zip(ids, labels), start=2):
        if image_id in seen and seen[image_id] != label:
            raise UserError(
                f"{csv_path} line {row_number}: {image_id} is listed twice with labels "
                f"'{seen[image_id]}' and '{label}'; keep one row"
            )
        seen[image_id] = label
        if not (root / image_id).is_file():
            missing.append(row_number)
    if missing:
        first = ids[missing[0] - 2]
        raise UserError(
            f"{csv_path} line {missing[0]}: {root / first} does not exist ({len(missing)} of "
            f"{len(ids)} rows name missing files); fix the filenames or delete those rows"
        )


def _normalised(label: str) -> str:
    return label.casefold().replace("-", "_").replace(" ", "_")


def _check_label_names(csv_path: Path, labels: list[str]) -> None:
    """Refuse labels that look like misspellings of a class (see the module docstring), naming the first line."""
    counts = pd.Series(labels).value_counts()
    har_like = len(set(counts.index) & set(HAR_CLASSES)) >= len(counts) / 2
    for label, count in counts.sort_values().items():
        if har_like and label in HAR_CLASSES:
            continue
        rivals = [
            c for c, n in counts.items() if c != label and (n >= 10 * count or _normalised(c) == _normalised(label))
        ]
        if har_like:
            rivals += [c for c in HAR_CLASSES if c not in counts or _normalised(c) == _normalised(label)]
        by_form = {_normalised(c): c for c in rivals}
        match = difflib.get_close_matches(_normalised(label), list(by_form), n=1, cutoff=0.85)
        if match:
            line = labels.index(label) + 2
            raise UserError(
                f"{csv_path} line {line}: label '{label}' ({count} rows) looks like a misspelling of "
                f"'{by_form[match[0]]}'; fix the label (classes must be spelled one way)"
            )


def image_reader(dataset: dict):
    """Raw image bytes by run-folder id, for a dataset as run_config.json records it ("dataset": kind, root, image
    and label columns): a file under a folder's root, or a row of Hub-format data (which needs `datasets`)."""
    if dataset.get("kind") != "hub":
        return FileReader(dataset.get("root") or ".")
    return load_source(dataset["root"], dataset.get("image_column"), dataset.get("label_column")).reader
