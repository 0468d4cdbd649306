"""Near-duplicate groups in the split: found among the images the exact de-duplication kept, then kept on one side.

    table, near, skipped = group_near_duplicates(table, max_distance)   # a `group` column: 0 alone, k >= 1 a group
    rest, part = keep_groups_together(rest, part, seed)                 # after train_test_split of the images

A group is decided per image, so a split of a set with no group is exactly the split of the images alone (the
same split.csv as before groups existed). With groups, each group goes to the side its first image (in listing
order) was drawn into, and for every class the images moved are balanced by moving as many images of that class
that are in no group the other way (seeded by --split_seed): the class counts stay those `train_test_split` drew.
A group whose images carry different labels is a label conflict: none of it is used. A group that holds an image
of a supplied test split keeps only that side: its training images are not trained on.
"""

import logging

import numpy as np
import pandas as pd

from har_finetune.data.near_duplicates import hamming, near_duplicate_groups

logger = logging.getLogger(__name__)
NEAR_COLUMNS = ["group", "id", "label", "distance"]  # near_duplicates.csv (docs/run_folder.md)


def group_near_duplicates(table: pd.DataFrame, max_distance: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(`table` with a `group` column, the near_duplicates.csv rows, skipped rows (id, reason)) for the readable,
    de-duplicated images of `table` (columns id, label, source, phash; listing order)."""
    labels = near_duplicate_groups(table["phash"].to_numpy(np.uint64), max_distance)
    table = table.assign(group=labels)
    in_group = table.groupby("group")["id"].transform("size") > 1
    conflicting = in_group & (table.groupby("group")["label"].transform("nunique") > 1)
    skipped = [_reasons(table[conflicting], _conflict_reason)]
    table = table[~conflicting]
    with_test = in_group[table.index] & table["group"].isin(table.loc[table["source"] == "test", "group"])
    beside_test = with_test & (table["source"] != "test")
    test_reasons = _reasons(table[with_test], _test_reason)
    skipped.append(test_reasons[test_reasons["id"].isin(table.loc[beside_test, "id"])])
    table = table[~beside_test]
    table, near = _numbered(table)
    skipped = pd.concat(skipped, ignore_index=True)
    if not skipped.empty:
        logger.warning(
            "dropped %d near copies (listed in skipped_images.csv), e.g. %s: %s",
            len(skipped),
            skipped["id"].iloc[0],
            skipped["reason"].iloc[0],
        )
    return table, near, skipped


def _numbered(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups of 2 or more numbered 1, 2, ... in the order of their first image (0: in no group); their rows."""
    sizes = table.groupby("group")["id"].transform("size")
    members = table[sizes > 1]
    firsts = members.groupby("group", sort=False).head(1)
    number = {old: new for new, old in enumerate(firsts["group"], start=1)}
    first_hash = dict(zip(firsts["group"], firsts["phash"]))
    near = pd.DataFrame(
        {
            "group": members["group"].map(number).astype(int),
            "id": members["id"],
            "label": members["label"],
            "distance": [hamming(h, first_hash[g]) for g, h in zip(members["group"], members["phash"])],
        },
        columns=NEAR_COLUMNS,
    )
    table = table.assign(group=table["group"].map(number).fillna(0).astype(int))
    return table, near.sort_values(["group"], kind="stable").reset_index(drop=True)


def _reasons(rows: pd.DataFrame, reason) -> pd.DataFrame:
    """One skipped row per image of `rows`, its reason naming the other images of its group."""
    out = []
    for _, group in rows.groupby("group", sort=False):
        images = list(group.itertuples())
        for image in images:
            others = [f"{o.id} ('{o.label}', {hamming(image.phash, o.phash)} bits)" for o in images if o.id != image.id]
            out.append((image.id, reason(image, ", ".join(others))))
    return pd.DataFrame(out, columns=["id", "reason"])


def _conflict_reason(image, others: str) -> str:
    return f"conflicting labels: labelled '{image.label}', but a near copy (perceptual hash) of {others}"


def _test_reason(image, others: str) -> str:
    return f"in a group of near copies (perceptual hash) with supplied test images: {others}; not trained on"


def keep_groups_together(rest: pd.DataFrame, part: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`train_test_split`'s (rest, part) with each group moved to the side of its first image, and as many images
    of each class in no group moved back the other way; unchanged when no image is in a group."""
    if not ((rest["group"] > 0).any() or (part["group"] > 0).any()):
        return rest, part
    target = part["label"].value_counts()
    both = pd.concat([rest.assign(_part=False), part.assign(_part=True)])
    members = both[both["group"] > 0]
    side = members.sort_index().groupby("group")["_part"].first()  # the index is the listing order
    both.loc[members.index, "_part"] = members["group"].map(side).to_numpy()
    rng = np.random.default_rng(seed)
    short = []
    for label in sorted(both["label"].unique()):
        excess = int((both["_part"] & (both["label"] == label)).sum()) - int(target.get(label, 0))
        if excess:
            movable = both.index[(both["_part"] == (excess > 0)) & (both["label"] == label) & (both["group"] == 0)]
            moved = rng.permutation(np.asarray(movable))[: abs(excess)]
            both.loc[moved, "_part"] = excess < 0
            short += [label] if len(moved) < abs(excess) else []
    if short:
        logger.warning("near-duplicate groups leave classes %s off their stratified counts (too few images)", short)
    return both[~both["_part"]].drop(columns="_part"), both[both["_part"]].drop(columns="_part")
