"""Hub-format datasets: a Hub id (e.g. Bingsu/Human_Action_Recognition), a `save_to_disk` folder, or parquet files.

Ids are `<source split>/<row index>`. Images stay undecoded (`Image(decode=False)`) so that our own decoder
checks and converts every one of them. Labels are checked: a `ClassLabel` value outside its names (-1 marks
"no label") is an error naming the row, except for a test split without any label, which is left out; plain
string labels take their class list from the train split.
"""

import logging
from pathlib import Path

import datasets
from datasets import ClassLabel, DatasetDict, Image

from har_finetune.core.errors import UserError
from har_finetune.core.hub import check_hub_reachable, is_offline, prefetch_hint
from har_finetune.data.labelled import LabelledImages

logger = logging.getLogger(__name__)

IMAGE_COLUMN_GUESSES = ("image", "img", "pixel_values")
LABEL_COLUMN_GUESSES = ("labels", "label", "action")


class HubReader:
    """Raw bytes of `<split>/<row>`; picklable (Arrow tables are memory-mapped and re-opened in workers)."""

    def __init__(self, splits: DatasetDict, image_column: str):
        self.splits = splits
        self.image_column = image_column

    def __call__(self, image_id: str) -> bytes:
        split, row = image_id.rsplit("/", 1)
        cell = self.splits[split][int(row)][self.image_column]
        if cell.get("bytes"):
            return cell["bytes"]
        return Path(cell["path"]).read_bytes()


def load_hub_id(name: str, image_column: str | None, label_column: str | None) -> LabelledImages:
    check_hub_reachable("dataset", name)
    try:
        splits = datasets.load_dataset(name)
    except Exception as error:  # the Hub client raises many types (offline, not found, gated)
        where = "not in the local cache (HF_HUB_OFFLINE is set)" if is_offline() else "not on the Hub (or gated)"
        raise UserError(
            f"--dataset {name}: no such local folder, and {where} ({type(error).__name__}); "
            + prefetch_hint("dataset", name)
        ) from None
    return _from_splits(splits, name, image_column, label_column)


def load_hub_copy(path: Path, image_column: str | None, label_column: str | None) -> LabelledImages:
    try:
        if any(path.glob("*.parquet")) or any(path.glob("data/*.parquet")):
            files = sorted(path.glob("*.parquet")) or sorted(path.glob("data/*.parquet"))
            data_files = {}
            for f in files:
                split = "test" if f.name.startswith("test") else "train"
                data_files.setdefault(split, []).append(str(f))
            splits = datasets.load_dataset("parquet", data_files=data_files)
        else:
            splits = datasets.load_from_disk(str(path))
    except Exception as error:
        raise UserError(f"cannot read the dataset copy in {path}: {error}") from None
    if isinstance(splits, datasets.Dataset):
        splits = DatasetDict(train=splits)
    return _from_splits(splits, str(path), image_column, label_column)


def _pick_column(columns: list[str], chosen: str | None, guesses: tuple[str, ...], flag: str, where: str) -> str:
    if chosen:
        if chosen not in columns:
            raise UserError(f"{where}: no column '{chosen}' (columns: {columns}); fix {flag}")
        return chosen
    for guess in guesses:
        if guess in columns:
            return guess
    raise UserError(
        f"{where}: cannot tell which column holds the {flag[2:].split('_')[0]}s (columns: {columns}); pass {flag}"
    )


def _from_splits(splits: DatasetDict, where: str, image_column: str | None, label_column: str | None):
    if "train" not in splits:
        raise UserError(f"{where}: no 'train' split (splits: {list(splits)})")
    columns = splits["train"].column_names
    image_column = _pick_column(columns, image_column, IMAGE_COLUMN_GUESSES, "--image_column", where)
    label_column = _pick_column(columns, label_column, LABEL_COLUMN_GUESSES, "--label_column", where)
    feature = splits["train"].features[label_column]
    names = feature.names if isinstance(feature, ClassLabel) else None
    ids, labels, source_splits = [], [], []
    kept = {}
    for split in ("train", "test"):
        if split not in splits:
            continue
        raw = splits[split][label_column]
        if not _labels_ok(raw, names, split, where, label_column):
            continue
        kept[split] = splits[split].cast_column(image_column, Image(decode=False))
        ids += [f"{split}/{row}" for row in range(len(raw))]
        labels += [names[value] if names else str(value) for value in raw]
        source_splits += [split] * len(raw)
    class_names = names or sorted({label for label, split in zip(labels, source_splits) if split == "train"})
    logger.info("Hub-format dataset %s: %s rows", where, {s: len(t) for s, t in kept.items()})
    return LabelledImages(
        "hub",
        where,
        ids,
        labels,
        source_splits,
        HubReader(DatasetDict(kept), image_column),
        class_names,
        image_column,
        label_column,
    )


def _labels_ok(raw: list, names: list[str] | None, split: str, where: str, column: str) -> bool:
    """False for a test split without any label (left out); raises on a row whose label is missing or unknown."""
    bad = [row for row, value in enumerate(raw) if value is None or (names and not 0 <= value < len(names))]
    if not bad:
        return True
    if split == "test" and len(bad) == len(raw):
        logger.warning(
            "%s: the test split has no labels (%s = %s); a labelled test split is carved from train",
            where,
            column,
            raw[0],
        )
        return False
    allowed = f"0..{len(names) - 1} ({len(names)} classes)" if names else "a class name"
    raise UserError(
        f"{where}: {split} row {bad[0]} has {column} = {raw[bad[0]]}, not {allowed}; {len(bad)} rows "
        "like it; fix or drop them"
    )
