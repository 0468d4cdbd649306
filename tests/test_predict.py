"""`python -m har_finetune.predict RUN_DIR PATH...`: top-k to the terminal and a CSV, batches, unreadable files.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_predict.py -q      # ~6 s
"""

from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image
from test_zero_shot import random_images
from transformers import AutoImageProcessor

from har_finetune import HAR_CLASSES
from har_finetune.core.errors import UserError
from har_finetune.models.registry import load_classifier
from har_finetune.predict import load_run, main

CLASSES = list(HAR_CLASSES)


def save_run(checkpoint: str, run: Path, head: str) -> Path:
    model, _ = load_classifier(checkpoint, CLASSES, seed=0, head=head)
    model.save_pretrained(run)
    AutoImageProcessor.from_pretrained(checkpoint).save_pretrained(run)
    return run


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """5 readable images (one in a sub-folder, one PNG), a broken JPEG, a text file and a hidden image."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    images = random_images(6, seed=1)
    for i, image in enumerate(images[:3]):
        image.save(root / f"img_{i}.jpg")
    images[3].save(root / "sub" / "deep.jpg")
    images[4].save(root / "b.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    images[5].save(root / ".hidden" / "skip.jpg")
    return root


@pytest.mark.parametrize("model_type,head", [("clip", "default"), ("clip", "zero_shot"), ("siglip2", "zero_shot")])
def test_predict_folder_top_k_terminal_and_csv(tiny_checkpoints, photos, tmp_path, capsys, model_type, head):
    run = save_run(tiny_checkpoints[model_type], tmp_path / "run", head)
    out = tmp_path / "predictions.csv"
    assert main([str(run), str(photos), "--top_k", "3", "--batch_size", "2", "--output", str(out)]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "path",
        "label_1",
        "probability_1",
        "label_2",
        "probability_2",
        "label_3",
        "probability_3",
    ]
    assert sorted(Path(p).name for p in table["path"]) == ["b.png", "deep.jpg", "img_0.jpg", "img_1.jpg", "img_2.jpg"]
    probabilities = table[["probability_1", "probability_2", "probability_3"]].to_numpy()
    assert (probabilities[:, :-1] >= probabilities[:, 1:]).all() and (probabilities.sum(axis=1) <= 1 + 1e-6).all()
    assert set(table["label_1"]) <= set(CLASSES)
    assert "skipped" in captured.err and "broken.jpg" in captured.err and "notes.txt" not in captured.err
    assert "5 images classified, 1 skipped" in captured.out
    assert f"{table['path'][0]}: {table['label_1'][0]} " in captured.out  # one line per image

    model, processor = load_run(run)  # the documented call: the same numbers in Python
    with torch.no_grad():
        logits = model(
            **processor(images=[Image.open(p).convert("RGB") for p in table["path"]], return_tensors="pt")
        ).logits
    top = logits.softmax(-1).topk(3)
    assert [model.config.id2label[int(i)] for i in top.indices[:, 0]] == list(table["label_1"])
    assert top.values[:, 0].numpy() == pytest.approx(table["probability_1"].to_numpy(), abs=1e-5)


def test_batching_does_not_change_results_and_top_k_is_capped(tiny_checkpoints, photos, tmp_path):
    run = save_run(tiny_checkpoints["siglip"], tmp_path / "run", "default")
    one, many = tmp_path / "one.csv", tmp_path / "many.csv"
    files = [str(photos / "img_0.jpg"), str(photos / "b.png"), str(photos / "img_2.jpg")]
    assert main([str(run), *files, "--batch_size", "1", "--top_k", "50", "--output", str(one), "--quiet"]) == 0
    assert main([str(run), *files, "--batch_size", "8", "--top_k", "50", "--output", str(many), "--quiet"]) == 0
    a, b = pd.read_csv(one), pd.read_csv(many)
    assert list(a["path"]) == files and a.shape[1] == 1 + 2 * len(CLASSES)  # 50 asked, 15 classes
    assert (a["label_1"] == b["label_1"]).all() and a["probability_1"].to_numpy() == pytest.approx(
        b["probability_1"].to_numpy(), abs=1e-5
    )


def test_errors_are_one_line(tiny_checkpoints, photos, tmp_path):
    run = save_run(tiny_checkpoints["clip"], tmp_path / "run", "default")
    with pytest.raises(UserError, match="no such file"):
        main([str(run), str(photos / "missing.jpg")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        main([str(run), str(tmp_path / "empty")])
    with pytest.raises(UserError, match="none of the 1 files"):
        main([str(run), str(photos / "broken.jpg"), "--output", str(tmp_path / "x.csv")])
    with pytest.raises(UserError, match="no saved model"):
        main([str(tmp_path), str(photos / "img_0.jpg")])


def test_a_folder_of_runs_names_them_and_a_folder_of_one_run_uses_it(tiny_checkpoints, photos, tmp_path, capsys):
    """The reporting commands' folder rule: run folders or folders holding them; predict needs exactly one run."""
    for seed in (1, 2):
        run = save_run(tiny_checkpoints["clip"], tmp_path / "clip" / f"seed-{seed}", "default")
        (run / "run_config.json").write_text("{}")  # what makes a folder a run of this tool
    with pytest.raises(UserError, match=r"clip holds 2 runs \(seed-1, seed-2\): predict with one of them"):
        main([str(tmp_path / "clip"), str(photos / "img_0.jpg")])
    (tmp_path / "clip" / "seed-2" / "run_config.json").unlink()
    main([str(tmp_path / "clip"), str(photos / "img_0.jpg"), "--output", str(tmp_path / "p.csv"), "--quiet"])
    assert "predicting with the run in it" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 1
