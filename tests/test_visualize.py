"""Annotated prediction samples: count, caption colour by correctness (pixels), aspect ratio, filters, sources.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_visualize.py -q
"""

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw
from run_folders import CLASSES, default_predictions, make_images, make_run

import visualize_predictions
from har_finetune.core.errors import UserError
from har_finetune.reporting import samples as visualize
from har_finetune.reporting.samples import SampleOptions
from har_finetune.run_folder.reader import RunRecord


@pytest.fixture
def run(tmp_path):
    """A finished CLIP run whose 60 test images (4 per class, 1 in 4 wrong, four sizes) exist on disk."""
    predictions = default_predictions()
    data = make_images(tmp_path / "data", list(predictions["id"]))
    return make_run(tmp_path / "outputs" / "clip", "clip", predictions=predictions, dataset_root=data)


def caption_colour(path) -> str:
    """'green' or 'red' from the bottom-left pixels of an annotated image (the caption band)."""
    r, g, b = np.asarray(Image.open(path).convert("RGB"))[-3:, :3].reshape(-1, 3).mean(axis=0)
    assert max(r, g) > b + 60, f"{path}: caption band is neither green nor red ({r:.0f}, {g:.0f}, {b:.0f})"
    return "green" if g > r + 60 else "red" if r > g + 60 else "unclear"


def sample_pngs(folder):
    return sorted(p for p in folder.glob("*.png") if p.name != "grid.png")


def test_count_and_caption_colour_match_correctness(run, tmp_path):
    out = tmp_path / "SampleOutputs"
    args = [str(run), "--num_samples", "8", "--out_root", str(out), "--image_size", "160"]
    assert visualize_predictions.main(args) == 0
    folder = out / "CLIP"  # named from the run's model type
    samples = pd.read_csv(folder / "samples.csv")
    assert len(sample_pngs(folder)) == len(samples) == 8
    colours = []
    for row in samples.itertuples():
        correct = row.label == row.prediction
        assert ("_correct_" if correct else "_wrong_") in row.file
        colours.append(caption_colour(folder / row.file))
        assert colours[-1] == ("green" if correct else "red"), row.file
    assert {"green", "red"} == set(colours), "the seed should pick both right and wrong predictions"
    grid = np.asarray(Image.open(folder / "grid.png").convert("RGB"))
    assert grid.astype(int).std() > 20 and grid.shape[1] > 4 * visualize.GRID_TILE * 0.75
    # beside a run's seed (`CLIP (seed-2)`), the title does not call the seed that picked the images "seed 0"
    title = f"CLIP: {colours.count('green')} of 8 correct (sampling seed 0)"
    assert shows_text(grid[:60], title, (255, 255, 255), "black")


@pytest.mark.parametrize("size", [(24, 18), (640, 360), (120, 480), (1600, 1200)])
def test_aspect_ratio_kept_and_caption_size_fixed(size):
    image = Image.new("RGB", size, (0, 0, 255))
    canvas = visualize.annotate(image, "listening_to_music", "using_laptop", 0.42, size=512)
    scale = 512 / max(size)
    width, height = round(size[0] * scale), round(size[1] * scale)
    pixels = np.asarray(canvas).astype(int)
    centre = canvas.width // 2
    assert tuple(pixels[height - 1, centre]) == (0, 0, 255) and tuple(pixels[height + 1, 0]) == visualize.WRONG
    blue_columns = (pixels[height // 2] == (0, 0, 255)).all(axis=-1).sum()
    assert blue_columns == width and abs(width / height - size[0] / size[1]) < 0.1
    band = pixels[height:]
    assert canvas.height - height >= 50, "two caption lines of >= 25 px at size 512"
    white = np.argwhere((band > 240).all(axis=-1))
    assert len(white) > 100 and white[:, 1].max() < canvas.width - 2, "caption text missing or clipped"


def test_caption_band_has_the_same_height_for_any_image():
    heights = []
    for size in [(24, 18), (1600, 1200), (100, 800)]:
        image = Image.new("RGB", size, "gray")
        canvas = visualize.annotate(image, "calling", "calling", 0.9, size=300)
        heights.append(canvas.height - round(size[1] * 300 / max(size)))
    assert len(set(heights)) == 1


def test_only_mistakes_and_one_per_class(run, tmp_path):
    files = visualize.visualize_run(
        RunRecord(run), tmp_path / "m", "CLIP", SampleOptions(count=6, only_mistakes=True, size=128)
    )
    samples = pd.read_csv(tmp_path / "m" / "samples.csv")
    assert len(samples) == 6 and (samples["label"] != samples["prediction"]).all() and len(files) == 8
    visualize.visualize_run(
        RunRecord(run), tmp_path / "c", "CLIP", SampleOptions(count=16, one_per_class=True, size=128)
    )
    samples = pd.read_csv(tmp_path / "c" / "samples.csv")
    assert list(samples["label"]) == sorted(CLASSES)  # 15 classes, one each, in class order
    visualize.visualize_run(
        RunRecord(run),
        tmp_path / "b",
        "CLIP",
        SampleOptions(count=16, only_mistakes=True, one_per_class=True, size=128),
    )
    samples = pd.read_csv(tmp_path / "b" / "samples.csv")
    assert len(samples) == 15 and samples["label"].is_unique and (samples["label"] != samples["prediction"]).all()


def test_seed_picks_the_same_images_in_runs_sharing_a_test_split():
    a, b = default_predictions(), default_predictions(shift=1).sample(frac=1, random_state=3)
    ids = [
        [r["id"] for r in visualize.pick(visualize.shuffled(p, seed).to_dict("records"), 8, False, False)]
        for p in (a, b)
        for seed in (0, 1)
    ]
    assert ids[0] == ids[2] and ids[1] == ids[3] and ids[0] != ids[1]


def test_rerun_with_fewer_samples_leaves_no_stale_images(run, tmp_path):
    for count in (6, 3):
        visualize.visualize_run(RunRecord(run), tmp_path / "CLIP", "CLIP", SampleOptions(count=count, size=128))
    assert len(sample_pngs(tmp_path / "CLIP")) == 3


def test_moved_dataset_is_a_clear_error_and_data_root_fixes_it(run, tmp_path):
    (tmp_path / "data").rename(tmp_path / "moved")
    args = [str(run), "--num_samples", "2", "--out_root", str(tmp_path / "s"), "--image_size", "128"]
    with pytest.raises(UserError, match="pass --data_root"):
        visualize_predictions.main(args)
    assert visualize_predictions.main([*args, "--data_root", str(tmp_path / "moved")]) == 0


def test_names_are_one_per_run_found(run, tmp_path):
    with pytest.raises(UserError, match="one name per run"):
        visualize_predictions.main([str(run), "--name", "A", "B", "--out_root", str(tmp_path)])


@pytest.fixture
def campaign(run, tmp_path):
    """outputs/clip/seed-1, seed-2 and outputs/siglip/seed-1, scored on the images of `run`."""
    predictions, root = default_predictions(), tmp_path / "data"
    folders = {name: tmp_path / "campaign" / name for name in ("clip/seed-1", "clip/seed-2", "siglip/seed-1")}
    for name, folder in folders.items():
        make_run(folder, name.split("/")[0], predictions=predictions, dataset_root=root)
    return tmp_path / "campaign"


def written_by(folder) -> set[str]:
    return set(pd.read_csv(folder / "samples.csv")["run"])


def test_campaign_folders_stand_for_their_runs_as_the_samples_readme_shows(campaign, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the command as SampleOutputs/README.md gives it, relative paths
    args = ["campaign/clip", "campaign/siglip", "--out_root", "samples", "--num_samples", "2", "--image_size", "64"]
    assert visualize_predictions.main(args) == 0
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["CLIP-seed-1", "CLIP-seed-2", "SigLIP"]
    assert written_by(tmp_path / "samples" / "CLIP-seed-2") == {"campaign/clip/seed-2"}
    with pytest.raises(UserError, match="campaign/nothing: no such folder"):
        visualize_predictions.main(["campaign/nothing", "--out_root", "samples"])


def test_a_second_run_of_one_model_never_overwrites_the_first(campaign, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    options = ["--out_root", "samples", "--num_samples", "2", "--image_size", "64"]
    assert visualize_predictions.main(["campaign/clip/seed-1", *options]) == 0
    capsys.readouterr()
    assert visualize_predictions.main(["campaign/clip/seed-2", *options]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "note: samples/CLIP holds the samples of campaign/clip/seed-1; those of campaign/clip/seed-2 go beside them "
        "into samples/CLIP-2"
    )
    assert written_by(tmp_path / "samples" / "CLIP") == {"campaign/clip/seed-1"}
    assert written_by(tmp_path / "samples" / "CLIP-2") == {"campaign/clip/seed-2"}
    assert visualize_predictions.main(["campaign/clip/seed-1", *options]) == 0  # its own folder: rewritten in place
    assert "note:" not in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["CLIP", "CLIP-2"]


def test_hub_style_ids_read_from_a_saved_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    images = [Image.new("RGB", (40 + 10 * i, 30), (200, 30 * i, 0)) for i in range(4)]
    data = datasets.Dataset.from_dict({"image": images, "labels": [0, 1, 2, 3]})
    data = data.cast_column("image", datasets.Image())
    datasets.DatasetDict(train=data).save_to_disk(str(tmp_path / "hub_copy"))
    source = visualize.ImageSource({"kind": "hub", "root": str(tmp_path / "hub_copy"), "image_column": "image"})
    assert [source.open(f"train/{i}").size for i in range(4)] == [(40, 30), (50, 30), (60, 30), (70, 30)]


@pytest.mark.slow
def test_repredict_with_the_saved_model_when_there_is_no_csv(run, tmp_path):
    transformers = pytest.importorskip("transformers")
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8
    )
    config = transformers.CLIPConfig(
        vision_config=vision, id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)}
    )
    transformers.CLIPForImageClassification(config).save_pretrained(run)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        run
    )
    (run / "test_predictions.csv").unlink()  # ground truth now comes from split.csv
    visualize.visualize_run(RunRecord(run), tmp_path / "re", "CLIP", SampleOptions(count=4, size=128))
    samples = pd.read_csv(tmp_path / "re" / "samples.csv")
    assert len(samples) == 4 and samples["prediction"].isin(CLASSES).all()
    assert samples["confidence"].between(1 / len(CLASSES) - 1e-6, 1).all()
    for row in samples.itertuples():
        assert caption_colour(tmp_path / "re" / row.file) == ("green" if row.label == row.prediction else "red")


@pytest.mark.slow
def test_saved_model_of_a_real_tiny_run_reproduces_its_test_predictions(tiny_run, tmp_path):
    visualize.visualize_run(RunRecord(tiny_run), tmp_path / "csv", "CLIP", SampleOptions(count=5, size=128))
    visualize.visualize_run(
        RunRecord(tiny_run), tmp_path / "model", "CLIP", SampleOptions(count=5, size=128, repredict=True)
    )
    from_csv, from_model = (pd.read_csv(tmp_path / name / "samples.csv") for name in ("csv", "model"))
    assert list(from_csv["id"]) == list(from_model["id"])
    assert list(from_csv["prediction"]) == list(from_model["prediction"])
    assert np.allclose(from_csv["confidence"], from_model["confidence"], atol=1e-3)


def text_pixels(text: str, size: int, background: tuple, ink: str) -> np.ndarray:
    """`text` drawn as samples.py draws it (its font at `size` px, `ink` on `background`), cropped to the ink."""
    font = visualize.font(size)
    image = Image.new("RGB", (math.ceil(font.getlength(text)) + 4, 2 * size), background)
    ImageDraw.Draw(image).text((2, 0), text, fill=ink, font=font)
    pixels = np.asarray(image)
    rows, columns = np.nonzero((pixels != background).any(axis=-1))
    return pixels[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def shows_text(pixels: np.ndarray, text: str, background: tuple, ink: str = "white") -> bool:
    """Whether the image shows `text` exactly as the caption font draws it, at any position and size 10-40 px.

    Pixel-exact template search (Pillow draws a string's glyphs the same wherever it is placed): no OCR needed."""
    for size in range(10, 41):
        template = text_pixels(text, size, background, ink)
        height, width = template.shape[:2]
        if width > pixels.shape[1]:
            break
        for y in range(pixels.shape[0] - height + 1):
            rows = np.lib.stride_tricks.sliding_window_view(pixels[y], (width, 3))[:, 0]
            for x in np.nonzero((rows == template[0]).all(axis=(1, 2)))[0]:
                if (pixels[y : y + height, x : x + width] == template).all():
                    return True
    return False


def test_each_sample_shows_the_true_label_as_true_and_the_prediction_as_pred(run, tmp_path):
    """Read back from the written PNGs against test_predictions.csv: a caption with the two swapped fails."""
    options = SampleOptions(count=3, only_mistakes=True, size=256)
    visualize.visualize_run(RunRecord(run), tmp_path / "s", "CLIP", options)
    truth = pd.read_csv(run / "test_predictions.csv").set_index("id")
    for row in pd.read_csv(tmp_path / "s" / "samples.csv").itertuples():
        pixels = np.asarray(Image.open(tmp_path / "s" / row.file).convert("RGB"))
        label, prediction = truth.loc[row.id, "label"], truth.loc[row.id, "prediction"]
        assert label != prediction  # only mistakes: a swap would show
        assert shows_text(pixels, f"true: {label}", visualize.WRONG), row.file
        assert shows_text(pixels, f"pred: {prediction}", visualize.WRONG), row.file
        assert not shows_text(pixels, f"true: {prediction}", visualize.WRONG), row.file
