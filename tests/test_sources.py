"""Dataset layouts and the split protocol (issue: fine-tuning pipeline).

.venv/bin/python -m pytest tests/test_sources.py
"""

import random
import shutil
from pathlib import Path

import datasets
import pandas as pd
import pytest
from datasets import ClassLabel, Features, Image

from har_finetune import HAR_CLASSES
from har_finetune.core.errors import UserError
from har_finetune.data.images import scan_images
from har_finetune.data.sources import load_source
from har_finetune.data.split import make_split
from har_finetune.data.synthetic import synthetic_image

CLASSES = HAR_CLASSES[:5]


def _image(class_index: int, seed: int):
    return synthetic_image(class_index, len(CLASSES), random.Random(seed), (40 + seed % 7, 36))


def _split(source, seed=42, test_fraction=0.2, validation_fraction=0.2):
    return make_split(
        source, scan_images(source.reader, source.ids, workers=2), test_fraction, validation_fraction, seed
    )


def make_class_folders(root: Path, per_class: int = 10, test_per_class: int = 0) -> Path:
    for split, count in (("train", per_class), ("test", test_per_class)):
        for c, name in enumerate(CLASSES):
            if count:
                (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                _image(c, hash((split, c, i)) % 10_000).save(root / split / name / f"{i}.png")
    return root


def make_kaggle(root: Path, per_class: int = 8) -> Path:
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    rows = []
    for c, name in enumerate(CLASSES):
        for i in range(per_class):
            filename = f"Image_{c * per_class + i + 1}.jpg"
            _image(c, c * 100 + i).save(root / "train" / filename, quality=95)
            rows.append((filename, name))
    pd.DataFrame(rows, columns=["filename", "label"]).to_csv(root / "Training_set.csv", index=False)
    _image(0, 9999).save(root / "test" / "Image_1.jpg")
    pd.DataFrame({"filename": ["Image_1.jpg"]}).to_csv(root / "Testing_set.csv", index=False)
    return root


def make_hub_copy(root: Path, per_class: int = 8, test_images: list | None = None) -> Path:
    """Like Bingsu/Human_Action_Recognition: image + labels, and a test split whose labels are all class 0
    (`test_images`, default one new image per class)."""
    features = Features({"image": Image(), "labels": ClassLabel(names=list(CLASSES))})
    train = {"image": [], "labels": []}
    for c in range(len(CLASSES)):
        for i in range(per_class):
            train["image"].append(_image(c, c * 100 + i))
            train["labels"].append(c)
    test_images = test_images or [_image(c, 5000 + c) for c in range(len(CLASSES))]
    test = {"image": test_images, "labels": [0] * len(test_images)}
    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict(train, features=features),
        test=datasets.Dataset.from_dict(test, features=features),
    )
    splits.save_to_disk(str(root))
    return root


def test_class_folders_use_the_supplied_labelled_test_split(tmp_path):
    source = load_source(str(make_class_folders(tmp_path / "har", per_class=10, test_per_class=3)))
    assert source.kind == "folder" and source.class_names == sorted(CLASSES)
    split = _split(source)
    assert split.test_source == "supplied"
    test = split.table[split.table["split"] == "test"]
    assert len(test) == 15 and all(i.startswith("test/") for i in test["id"])
    assert set(split.table["split"]) == {"train", "validation", "test"}


def test_kaggle_layout_reads_labels_from_the_csv_and_ignores_the_unlabelled_test(tmp_path):
    source = load_source(str(make_kaggle(tmp_path / "kaggle")))
    assert source.kind == "kaggle"
    assert source.class_names == sorted(CLASSES)  # never "train"/"test" as class names
    assert len(source.ids) == 40 and all(i.startswith("train/Image_") for i in source.ids)
    split = _split(source)
    assert split.test_source == "carved" and (split.table["split"] == "test").sum() == 8


def test_hub_copy_with_placeholder_test_labels_carves_a_test_split(tmp_path, caplog):
    source = load_source(str(make_hub_copy(tmp_path / "hub")))
    assert source.kind == "hub" and source.label_column == "labels" and source.class_names == list(CLASSES)
    split = _split(source)
    assert split.test_source == "carved"
    assert "placeholder" in caplog.text
    assert all(i.startswith("train/") for i in split.table["id"])  # placeholder-labelled rows never used
    assert source.reader("train/0")[:4] == b"\x89PNG"


def test_placeholder_test_rows_that_copy_training_images_cost_no_training_image(tmp_path):
    # The mirror's test split may hold copies of training photos, all labelled class 0: kept until de-duplication,
    # they would make those training images "conflicting" (same pixels, two labels) and drop them.
    copies = [_image(c, c * 100 + 1) for c in range(1, len(CLASSES))]  # one training image of every other class
    split = _split(load_source(str(make_hub_copy(tmp_path / "hub", test_images=copies))))
    assert split.test_source == "carved" and split.num_duplicates == 0
    assert len(split.table) == 8 * len(CLASSES) and all(i.startswith("train/") for i in split.table["id"])


def test_parquet_copy_is_read_like_the_hub(tmp_path):
    hub = make_hub_copy(tmp_path / "hub")
    out = tmp_path / "parquet" / "data"
    out.mkdir(parents=True)
    for name, table in datasets.load_from_disk(str(hub)).items():
        table.to_parquet(str(out / f"{name}-00000-of-00001.parquet"))
    source = load_source(str(tmp_path / "parquet"))
    assert source.kind == "hub" and len(source.ids) == 40 + 5
    assert _split(source).test_source == "carved"


def test_split_is_stratified_and_deterministic(tmp_path):
    source = load_source(str(make_class_folders(tmp_path / "har", per_class=20)))
    first, again, other = _split(source, seed=1), _split(source, seed=1), _split(source, seed=2)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert not first.table.equals(other.table)
    counts = first.table.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["test"] == 4).all()  # 20% of 20 per class
    assert len(first.table) == 100


def test_duplicates_are_removed_before_splitting_and_never_cross_splits(tmp_path):
    root = make_class_folders(tmp_path / "har", per_class=10, test_per_class=2)
    for name in CLASSES[:3]:  # a test image copied into train, and a train image copied twice
        shutil.copy(root / "test" / name / "0.png", root / "train" / name / "dup_of_test.png")
        shutil.copy(root / "train" / name / "1.png", root / "train" / name / "dup_of_train.png")
    source = load_source(str(root))
    split = _split(source)
    assert split.num_duplicates == 6
    hashes = dict(zip(source.ids, (s.content_hash for s in scan_images(source.reader, source.ids))))
    table = split.table.assign(hash=split.table["id"].map(hashes))
    assert table["hash"].is_unique
    assert not table["id"].str.contains("dup_of_test").any()  # the supplied test copy wins


def test_missing_path_unrecognised_layout_and_empty_class_folder_fail_clearly(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        load_source(str(tmp_path / "nowhere"))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "README.txt").write_text("hi")
    with pytest.raises(UserError, match="unrecognised layout"):
        load_source(str(tmp_path / "odd"))
    root = make_class_folders(tmp_path / "har", per_class=2)
    (root / "train" / "waving").mkdir()
    with pytest.raises(UserError, match="waving holds no images"):
        load_source(str(root))


def test_unreachable_hub_id_says_to_prefetch(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="prefetch"):
        load_source("someone/not_cached_dataset")


def test_missing_relative_path_is_a_missing_folder_not_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()  # data/ exists, data/har does not: a path typo, not the Hub dataset "data/har"
    for name in ("data/har", "./har", str(tmp_path / "har")):
        with pytest.raises(UserError, match=rf"--dataset {name}: no such folder") as error:
            load_source(name)
        assert "prefetch" not in str(error.value)


def test_run_folders_and_plots_inside_the_dataset_are_not_classes(tmp_path, caplog):
    root = make_class_folders(tmp_path / "har", per_class=3)
    run = root / "train" / "clip_run"  # --output_dir inside the dataset: a run folder with its plots
    (run / "plots").mkdir(parents=True)
    (run / "run_config.json").write_text("{}")
    for name in ("train_metrics.png", "eval_metrics.png", "confusion_matrix.png", "per_class_f1.png"):
        _image(0, 1).save(run / "plots" / name)
    plots_only = root / "train" / CLASSES[0] / "plots"  # plot_metrics.py --out inside a class folder
    plots_only.mkdir()
    _image(0, 2).save(plots_only / "train_metrics.png")
    with caplog.at_level("INFO"):
        source = load_source(str(root))
    assert source.class_names == sorted(CLASSES)
    assert not any("clip_run" in i or "plots" in i for i in source.ids)
    assert "ignored 2 entries" in caplog.text and "clip_run/" in caplog.text and "run outputs" in caplog.text


def test_a_class_too_small_for_a_test_image_gets_one_warning(tmp_path, caplog):
    root = make_class_folders(tmp_path / "har", per_class=20)
    for extra in sorted((root / "train" / CLASSES[0]).iterdir())[2:]:
        extra.unlink()  # 2 images: stratification spares none for test or validation
    with caplog.at_level("WARNING"):
        split = _split(load_source(str(root)), test_fraction=0.1, validation_fraction=0.1)
    small = CLASSES[0]
    assert small not in split.labels("test") and small not in split.labels("validation")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"no {name} image for class '{small}' (2 images): too few images to spare one; its {name} figures are "
        "missing; add images"
        for name in ("test", "validation")
    ]
