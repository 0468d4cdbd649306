"""Data checked before training (issue 7): every kind of bad input has a defined outcome, on generated files.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_bad_input.py       # ~15 s

One real run on a messy folder (broken files, junk, odd formats among 102 good images) is shared by the first
tests; the error cases stop before training, through `run_cli` like the entry scripts (exit code 2, one line).
"""

import contextlib
import io
import json

import datasets
import pandas as pd
import pytest
from helpers_bad_input import (
    BROKEN_FILES,
    CLASSES,
    RED,
    exif_rotated_jpeg,
    flags,
    junk_files,
    make_dataset,
    odd_format_files,
    photo_jpeg,
    png_claiming_size,
    snapshot,
    tiny_checkpoint,
)
from PIL import Image

from har_finetune.core.cli import run_cli
from har_finetune.core.errors import UserError
from har_finetune.data.images import ALPHA_BACKGROUND, decode_rgb, scan_images, scan_one
from har_finetune.data.sources import load_source
from har_finetune.data.split import make_split
from har_finetune.training.job import main

GOOD_PER_CLASS = 34  # 102 good + 9 odd-format + 5 broken files: 5/116 = 4.3% unreadable, under the 5% default


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """(dataset root, run folder, log) of a real 2-step run on a messy folder-per-class tree."""
    root = make_dataset(tmp_path_factory.mktemp("messy") / "data", per_class=GOOD_PER_CLASS)
    for name, (data, _) in BROKEN_FILES.items():
        (root / "train" / "calling" / name).write_bytes(data)
    for name, data in odd_format_files().items():
        (root / "train" / "clapping" / name).write_bytes(data)
    junk_files(root / "train" / "calling")
    junk_files(root / "train")  # train/.ipynb_checkpoints/ must not become a class
    (root / "train" / "__MACOSX" / "calling").mkdir(parents=True)
    (root / "train" / "__MACOSX" / "calling" / "._0000.jpg").write_bytes(b"\x00\x05\x16\x07")
    out = root.parent / "run"
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # our log handler writes to the stdout of the moment
        assert main(flags(root, tiny_checkpoint(tmp_path_factory), out, "--max_steps", "2"), family="clip") == 0
    return root, out, log.getvalue()


def test_broken_files_are_skipped_counted_and_listed(messy):
    _, out, log = messy
    skipped = pd.read_csv(out / "skipped_images.csv")
    assert list(skipped.columns) == ["id", "reason"]
    reasons = dict(zip(skipped["id"], skipped["reason"]))
    assert set(reasons) == {f"train/calling/{name}" for name in BROKEN_FILES}
    for name, (_, words) in BROKEN_FILES.items():
        assert words in reasons[f"train/calling/{name}"], reasons
    summary = [line for line in log.splitlines() if "skipped 5 of 116 images" in line]
    assert len(summary) == 1 and "skipped_images.csv" in summary[0]
    results = json.loads((out / "all_results.json").read_text())
    assert results["num_skipped_images"] == 5
    assert not pd.read_csv(out / "split.csv")["id"].isin(skipped["id"]).any()


def test_non_image_files_and_hidden_folders_are_never_images_or_classes(messy):
    _, out, log = messy
    ids = pd.read_csv(out / "split.csv")["id"]
    assert not ids.str.contains(r"\.DS_Store|Thumbs\.db|notes\.txt|ipynb_checkpoints|__MACOSX").any()
    assert len(pd.read_csv(out / "skipped_images.csv")) == 5  # ignored, not "unreadable"
    id2label = json.loads((out / "config.json").read_text())["id2label"]
    assert sorted(id2label.values()) == sorted(CLASSES)
    assert "ignored 6 entries" in log  # .DS_Store, Thumbs.db, notes.txt, .ipynb_checkpoints/ in calling/; __MACOSX/


def test_odd_formats_and_upper_case_extensions_are_kept(messy):
    _, out, _ = messy
    ids = set(pd.read_csv(out / "split.csv")["id"])
    assert {f"train/clapping/{name}" for name in odd_format_files()} <= ids
    assert pd.read_csv(out / "split.csv")["label"].value_counts().to_dict() == {
        "calling": GOOD_PER_CLASS,
        "clapping": GOOD_PER_CLASS + 9,
        "cycling": GOOD_PER_CLASS,
    }


WHITE = ALPHA_BACKGROUND


@pytest.mark.parametrize(
    "name, left, right",
    [
        ("cmyk.jpg", RED, RED),
        ("palette_transparent.png", RED, WHITE),  # transparency composited on the defined background
        ("rgba.png", RED, WHITE),
        ("gray.png", (77, 77, 77), (77, 77, 77)),
        ("palette.png", RED, RED),
        ("gray16.png", (128, 128, 128), (128, 128, 128)),  # 32768/65535, where a naive convert gives white
        ("lossless.webp", RED, RED),
        ("UPPER.JPG", RED, RED),
    ],
)
def test_odd_formats_decode_to_the_right_rgb(name, left, right):
    image = decode_rgb(odd_format_files()[name])
    assert image.mode == "RGB"
    for (x, y), expected in (((2, 2), left), ((image.width - 3, image.height - 3), right)):
        assert all(abs(a - b) <= 3 for a, b in zip(image.getpixel((x, y)), expected)), (name, image.getpixel((x, y)))


def test_exif_orientation_is_applied():
    image = decode_rgb(exif_rotated_jpeg())  # stored 40x20, green block top-left, orientation 6
    assert image.size == (20, 40)
    assert image.getpixel((15, 4))[1] > 200 and image.getpixel((4, 4))[0] > 150  # block now top-right


def test_decompression_bomb_is_skipped_with_its_size_not_a_crash():
    result = scan_one((lambda _: png_claiming_size(20_000, 20_000), "bomb.png"))
    assert not result.ok and "400,000,000 pixels" in result.error and "decompression-bomb" in result.error


def fails_with(capsys, argv: list[str], *words: str) -> str:
    """Run like the entry script; assert exit code 2 and one `error:` line (after any progress bar) with `words`."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: main(argv, family="clip"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(w in last for w in words), last
    return last


def test_strict_makes_any_skip_a_failure(messy, tmp_path, tmp_path_factory, capsys):
    root, _, _ = messy
    out = tmp_path / "run"
    fails_with(
        capsys, flags(root, tiny_checkpoint(tmp_path_factory), out, "--strict"), "5 unreadable images", "drop --strict"
    )
    assert not out.exists()  # nothing written before the data is accepted


def test_more_unreadable_than_the_limit_stops_before_training(messy, tmp_path, tmp_path_factory, capsys):
    root, _, _ = messy
    out = tmp_path / "run"
    fails_with(
        capsys,
        flags(root, tiny_checkpoint(tmp_path_factory), out, "--max_unreadable_fraction", "0.04"),
        "5 of 116 images",
        "more than 4%",
        "--max_unreadable_fraction",
    )
    assert not out.exists()


def write_kaggle(root, rows: list[tuple[str, str]], missing: set[str] = frozenset()):
    (root / "train").mkdir(parents=True)
    for i, (filename, _) in enumerate(rows):
        if filename not in missing:
            (root / "train" / filename).write_bytes(photo_jpeg(i))
    pd.DataFrame(rows, columns=["filename", "label"]).to_csv(root / "Training_set.csv", index=False)
    return root


def kaggle_rows(n_per_class: int = 6) -> list[tuple[str, str]]:
    return [
        (f"Image_{c * n_per_class + i + 1}.jpg", label) for c, label in enumerate(CLASSES) for i in range(n_per_class)
    ]


def empty_class_folder(root):
    make_dataset(root)
    (root / "train" / "waving").mkdir()


def class_only_in_test(root):
    make_dataset(root)
    (root / "test" / "dancing").mkdir(parents=True)
    (root / "test" / "dancing" / "0.jpg").write_bytes(photo_jpeg())


def csv_missing_file(root):
    write_kaggle(root, kaggle_rows(), missing={"Image_4.jpg"})


def csv_misspelled_label(root):
    rows = kaggle_rows()
    rows[7] = (rows[7][0], "runing")  # a HAR-named CSV: close to the HAR class "running"
    write_kaggle(root, rows)


def csv_label_in_other_case(root):
    rows = kaggle_rows()
    rows[9] = (rows[9][0], "Clapping")
    write_kaggle(root, rows)


def csv_same_file_two_labels(root):
    rows = kaggle_rows()
    write_kaggle(root, rows + [(rows[2][0], "cycling")])


def hub_label_outside_class_list(root):
    features = datasets.Features({"image": datasets.Image(), "labels": datasets.ClassLabel(names=list(CLASSES))})
    images = [Image.open(io.BytesIO(photo_jpeg(i))) for i in range(12)]
    labels = [i % 3 for i in range(12)]
    labels[5] = -1  # datasets' "no label"; names[-1] would silently make it the last class
    train = datasets.Dataset.from_dict({"image": images, "labels": labels}, features=features)
    datasets.DatasetDict(train=train).save_to_disk(str(root))


@pytest.mark.parametrize(
    "build, words",
    [
        (empty_class_folder, ("waving holds no images", "add images or remove the folder")),
        (class_only_in_test, ("['dancing'] are absent from", "rename or remove")),
        (csv_missing_file, ("Training_set.csv line 5", "Image_4.jpg does not exist", "1 of 18 rows")),
        (csv_misspelled_label, ("line 9", "'runing'", "misspelling of 'running'", "fix the label")),
        (csv_label_in_other_case, ("line 11", "'Clapping'", "misspelling of 'clapping'")),
        (csv_same_file_two_labels, ("line 20", "Image_3.jpg is listed twice", "'calling' and 'cycling'", "keep one")),
        (hub_label_outside_class_list, ("train row 5 has labels = -1", "0..2 (3 classes)", "fix or drop")),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_inconsistent_dataset_is_one_line_error_naming_the_row(build, words, tmp_path, tmp_path_factory, capsys):
    build(tmp_path / "data")
    before = snapshot(tmp_path / "data")
    fails_with(capsys, flags(tmp_path / "data", tiny_checkpoint(tmp_path_factory), tmp_path / "run"), *words)
    assert not (tmp_path / "run").exists() and snapshot(tmp_path / "data") == before


def test_csv_labels_define_the_classes_and_a_new_class_is_not_a_typo(tmp_path):
    rows = kaggle_rows() + [(f"Image_{100 + i}.jpg", "waving") for i in range(6)]  # a dataset extending HAR
    source = load_source(str(write_kaggle(tmp_path / "data", rows)))
    assert source.class_names == sorted([*CLASSES, "waving"])
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "Training_set.csv").write_text("filename,label\n")
    with pytest.raises(UserError, match="has no rows"):
        load_source(str(tmp_path / "empty"))


def test_unlabelled_hub_test_split_is_left_out(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "labels": datasets.ClassLabel(names=list(CLASSES))})
    images = [Image.open(io.BytesIO(photo_jpeg(i))) for i in range(6)]
    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"image": images, "labels": [0, 1, 2] * 2}, features=features),
        test=datasets.Dataset.from_dict({"image": images[:2], "labels": [-1, -1]}, features=features),
    )
    splits.save_to_disk(str(tmp_path / "hub"))
    source = load_source(str(tmp_path / "hub"))
    assert set(source.source_splits) == {"train"} and len(source.ids) == 6


def test_unreadable_csv_and_a_class_left_without_images_are_errors(tmp_path):
    (tmp_path / "kaggle" / "train").mkdir(parents=True)
    (tmp_path / "kaggle" / "Training_set.csv").write_bytes(b"")
    with pytest.raises(UserError, match="Training_set.csv is not a readable CSV"):
        load_source(str(tmp_path / "kaggle"))
    root = make_dataset(tmp_path / "data", per_class=4)
    for image in (root / "train" / "cycling").iterdir():
        image.write_bytes(b"")
    source = load_source(str(root))
    with pytest.raises(UserError, match=r"no readable training image left for classes \['cycling'\]"):
        make_split(source, scan_images(source.reader, source.ids, workers=1), 0.2, 0.2, 0, max_unreadable_fraction=1)
