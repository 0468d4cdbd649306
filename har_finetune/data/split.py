"""The split protocol: drop unreadable images, remove exact duplicates, group near-duplicates, then a seeded
stratified split that keeps each group on one side.

A labelled test split supplied by the source is the test set, unless its labels are placeholders (one class
for every image, like the Hub mirror's test split); otherwise test and then validation are carved from the
labelled images. Duplicates are removed before splitting, so no image content is in two splits; near-duplicates
(data/near_duplicates.py, data/grouped_split.py) stay together, so no photo is in two splits either.
"""

import logging
from dataclasses import dataclass, field

import pandas as pd
from sklearn.model_selection import train_test_split

from har_finetune.core.errors import UserError
from har_finetune.data.grouped_split import NEAR_COLUMNS, group_near_duplicates, keep_groups_together
from har_finetune.data.images import ScanResult
from har_finetune.data.labelled import LabelledImages

logger = logging.getLogger(__name__)


@dataclass
class Split:
    table: pd.DataFrame  # id, label, split ("train" / "validation" / "test")
    skipped: pd.DataFrame  # id, reason
    num_duplicates: int
    test_source: str  # "supplied" or "carved"
    near_duplicates: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NEAR_COLUMNS))

    @property
    def near_duplicate_counts(self) -> tuple[int, int]:
        """(groups, images) of near-duplicates kept on one side of the split."""
        return int(self.near_duplicates["group"].nunique()), len(self.near_duplicates)

    def ids(self, split: str) -> list[str]:
        return self.table.loc[self.table["split"] == split, "id"].tolist()

    def labels(self, split: str) -> list[str]:
        return self.table.loc[self.table["split"] == split, "label"].tolist()


def make_split(
    source: LabelledImages,
    scans: list[ScanResult],
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    max_unreadable_fraction: float = 0.05,
    strict: bool = False,
    near_duplicate_distance: int = 0,
) -> Split:
    table = pd.DataFrame(
        {
            "id": source.ids,
            "label": source.labels,
            "source": source.source_splits,
            "hash": [s.content_hash for s in scans],
            "phash": [s.perceptual_hash for s in scans],
        }
    )
    unknown = table[~table["label"].isin(source.class_names)]
    if not unknown.empty:
        raise UserError(
            f"{source.root}: {unknown['id'].iloc[0]} has label '{unknown['label'].iloc[0]}', which is not "
            f"a training class ({len(unknown)} images like it; classes: {source.class_names}); fix or "
            "remove those labels"
        )
    readable = pd.Series([s.ok for s in scans], index=table.index)
    skipped = pd.DataFrame({"id": table.loc[~readable, "id"], "reason": [s.error for s in scans if not s.ok]})
    _check_skips(skipped, len(table), source.root, max_unreadable_fraction, strict)
    had_images = set(table.loc[table["source"] == "train", "label"])
    table = table[readable]
    empty = sorted(had_images - set(table.loc[table["source"] == "train", "label"]))
    if empty:
        raise UserError(
            f"{source.root}: no readable training image left for classes {empty} (see the skipped "
            "images); replace the broken files"
        )
    test_source = "supplied" if _supplied_test_is_usable(table, source) else "carved"
    if test_source == "carved":
        table = table[table["source"] == "train"]  # placeholder labels must not reach training either
    table, num_duplicates, conflicts = _drop_duplicates(table)
    table, near, near_skipped = group_near_duplicates(table, near_duplicate_distance)
    skipped = pd.concat([skipped, conflicts, near_skipped], ignore_index=True)
    test = table[table["source"] == "test"]
    rest = table[table["source"] == "train"]
    if test_source == "carved":
        rest, test = _stratified(rest, test_fraction, seed, "test")
    train, validation = _stratified(rest, validation_fraction, seed, "validation")
    for name, part in (("test", test), ("validation", validation)):
        _warn_missing_classes(source.class_names, table, part, name)
    table = pd.concat([train.assign(split="train"), validation.assign(split="validation"), test.assign(split="test")])
    split = Split(table[["id", "label", "split"]].reset_index(drop=True), skipped, num_duplicates, test_source, near)
    groups, images = split.near_duplicate_counts
    logger.info(
        "%d near-duplicate groups (%d images) kept on one side of the split (perceptual hashes within %d bits)",
        groups,
        images,
        near_duplicate_distance,
    )
    return split


def _warn_missing_classes(class_names: list[str], table: pd.DataFrame, part: pd.DataFrame, name: str) -> None:
    """One line naming the classes that got no image in `part` (too few images): their figures are missing there."""
    missing = sorted(set(class_names) - set(part["label"]))
    if missing:
        counts = table["label"].value_counts()
        logger.warning(
            "no %s image for class%s %s: too few images to spare one; its %s figures are missing; add images",
            name,
            "es" if len(missing) > 1 else "",
            ", ".join(f"'{c}' ({counts.get(c, 0)} images)" for c in missing),
            name,
        )


def _check_skips(skipped: pd.DataFrame, total: int, root: str, max_fraction: float, strict: bool) -> None:
    if skipped.empty:
        return
    first = f"{skipped['id'].iloc[0]} ({skipped['reason'].iloc[0]})"
    if strict:
        raise UserError(
            f"{len(skipped)} unreadable images in {root} (e.g. {first}); remove or replace them, "
            "or drop --strict to skip them"
        )
    if len(skipped) > max_fraction * total:
        raise UserError(
            f"{len(skipped)} of {total} images in {root} are unreadable (more than "
            f"{max_fraction:.0%}; e.g. {first}); fix the dataset or raise --max_unreadable_fraction"
        )
    # under the limit: data/prepare.py log_skipped names each one (here the run folder is unknown)


def _drop_duplicates(table: pd.DataFrame) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """Keep one image per content; prefer the supplied test copy; drop content labelled two different ways (returned
    as skipped rows, id and reason, naming the other files and their labels)."""
    table = table.assign(_order=(table["source"] != "test").astype(int)).sort_values(["_order", "id"])
    conflicting = table.groupby("hash")["label"].transform("nunique") > 1
    conflicts = _conflict_reasons(table[conflicting])
    if conflicting.any():
        logger.warning(
            "dropped %d images whose identical content carries different labels (listed in skipped_images.csv), "
            "e.g. %s: %s",
            int(conflicting.sum()),
            conflicts["id"].iloc[0],
            conflicts["reason"].iloc[0],
        )
    kept = table[~conflicting].drop_duplicates("hash", keep="first")
    removed = int((~conflicting).sum()) - len(kept)  # the conflicting ones are counted as skipped
    logger.info("removed %d exact duplicate images before splitting (%d kept)", removed, len(kept))
    return kept.drop(columns="_order").sort_index(), removed, conflicts


def _conflict_reasons(conflicting: pd.DataFrame) -> pd.DataFrame:
    """One skipped row per image of a content labelled two ways: its label, and every other file with its label."""
    rows = []
    for _, group in conflicting.groupby("hash", sort=False):
        for image_id, label in zip(group["id"], group["label"]):
            others = ", ".join(f"{other} ('{other_label}')" for other, other_label in zip(group["id"], group["label"])
                               if other != image_id)  # fmt: skip
            rows.append((image_id, f"conflicting labels: labelled '{label}', but the same pixels as {others}"))
    return pd.DataFrame(rows, columns=["id", "reason"])


def _supplied_test_is_usable(table: pd.DataFrame, source: LabelledImages) -> bool:
    test_labels = table.loc[table["source"] == "test", "label"]
    if test_labels.empty:
        return False
    if test_labels.nunique() == 1 and len(source.class_names) > 1:
        logger.warning(
            "the supplied test split of %s has the same label ('%s') for all %d images: placeholder "
            "labels, not used for accuracy; carving a labelled test split instead",
            source.root,
            test_labels.iloc[0],
            len(test_labels),
        )
        return False
    return True


def _stratified(table: pd.DataFrame, fraction: float, seed: int, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = table["label"].value_counts()
    if (counts < 2).any():
        raise UserError(
            f"classes {sorted(counts[counts < 2].index)} have fewer than 2 images; cannot carve a "
            f"stratified {name} split; add images"
        )
    size = max(int(round(fraction * len(table))), len(counts))
    try:
        rest, part = train_test_split(table, test_size=size, random_state=seed, stratify=table["label"])
    except ValueError as error:
        raise UserError(f"cannot carve a stratified {name} split of {size} images: {error}") from None
    return keep_groups_together(rest, part, seed)
