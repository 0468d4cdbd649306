"""End-to-end training on the learnable synthetic set: the model learns, the run folder is complete and loads.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_training.py      # about a minute on 2 cores
"""

import json
from pathlib import Path

import pandas as pd
import pytest
from argv import training_argv
from PIL import Image
from transformers import AutoModelForImageClassification, pipeline

from har_finetune import HAR_CLASSES
from har_finetune.core.errors import UserError
from har_finetune.training.job import main


def train(dataset: str, checkpoint: str, out: Path, *flags: str, family: str = "clip") -> Path:
    argv = training_argv(dataset, checkpoint, out, *flags)
    assert main(argv, family=family) == 0
    return out


@pytest.fixture(scope="module")
def runs(tiny_checkpoints, learnable_har, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        model_type: train(
            learnable_har,
            checkpoint,
            root / model_type,
            "--num_train_epochs",
            "5",
            family="clip" if model_type == "clip" else "siglip",
        )
        for model_type, checkpoint in tiny_checkpoints.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["clip", "siglip", "siglip2"])
def test_training_learns_far_above_chance(runs, model_type):
    results = json.loads((runs[model_type] / "all_results.json").read_text())
    assert results["model_type"] == model_type
    assert results["test_accuracy"] > 0.5, results  # chance is 1/15
    assert results["test_macro_f1"] > 0.4
    assert results["num_duplicates_removed"] == 3
    assert results["epochs"] == 5 and results["seconds_per_epoch"] > 0 and results["num_parameters"] > 0
    assert results["train_samples_per_second"] > 0 and "peak_gpu_memory_gb" not in results  # CPU run


@pytest.mark.slow
def test_run_folder_has_every_artifact(runs, learnable_har):
    run = runs["clip"]
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "trainer_state.json",
        "split.csv",
        "run_config.json",
        "versions.json",
        "classification_report.csv",
    ):
        assert (run / name).is_file(), name
    history = json.loads((run / "trainer_state.json").read_text())["log_history"]
    assert {"loss", "learning_rate", "grad_norm"} <= set(next(e for e in history if "loss" in e))
    assert sum("eval_accuracy" in e for e in history) >= 5  # once per epoch
    split = pd.read_csv(run / "split.csv")
    assert list(split.columns) == ["id", "label", "split"] and len(split) == 15 * 30  # 453 files, 3 duplicates
    assert all((Path(learnable_har) / i).is_file() for i in split["id"])
    report = pd.read_csv(run / "classification_report.csv")
    assert list(report["class"][:15]) == list(HAR_CLASSES)
    config = json.loads((run / "config.json").read_text())
    assert config["id2label"]["0"] == "calling" and "text_config" not in config.get("architectures", [])


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_saved_run_loads_with_pipeline_and_reproduces_the_predictions(runs, learnable_har, model_type):
    run = runs[model_type]
    model = AutoModelForImageClassification.from_pretrained(run)
    assert model.config.id2label[14] == "using_laptop"
    predictions = pd.read_csv(run / "test_predictions.csv").head(20)
    classify = pipeline("image-classification", model=str(run))
    images = [Image.open(Path(learnable_har) / i).convert("RGB") for i in predictions["id"]]
    top = [result[0] for result in classify(images)]
    assert [t["label"] for t in top] == list(predictions["prediction"])
    # our eval transform vs the processor: tiny resize differences at 32 px
    assert [round(t["score"], 3) for t in top] == pytest.approx(list(predictions["confidence"]), abs=1e-2)


@pytest.mark.slow
def test_finished_run_is_not_trained_again(runs, tiny_checkpoints, learnable_har):
    run = runs["clip"]
    before = (run / "all_results.json").stat().st_mtime_ns
    train(learnable_har, tiny_checkpoints["clip"], run, "--num_train_epochs", "5")  # the same command again
    assert (run / "all_results.json").stat().st_mtime_ns == before


def test_sanity_flags_are_honoured(tiny_checkpoints, learnable_har, tmp_path):
    run = train(
        learnable_har,
        tiny_checkpoints["siglip"],
        tmp_path / "run",
        "--max_train_samples",
        "40",
        "--max_eval_samples",
        "12",
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "8",
        family="siglip",
    )
    results = json.loads((run / "all_results.json").read_text())
    assert results["num_train_samples"] == 40 and results["num_test_samples"] == 12
    assert results["num_validation_samples"] == 12
    assert json.loads((run / "trainer_state.json").read_text())["global_step"] == 3
    assert len(pd.read_csv(run / "test_predictions.csv")) == 12


def test_config_file_stands_in_for_flags(tiny_checkpoints, learnable_har, tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text(
        f"dataset: {learnable_har}\nmodel_name_or_path: {tiny_checkpoints['clip']}\n"
        f"output_dir: {tmp_path / 'run'}\nmax_steps: 2\nmax_eval_samples: 5\n"
        "dataloader_num_workers: 0\nnum_train_epochs: 9\n"
    )
    assert main([str(config), "--num_train_epochs", "1"], family="clip") == 0
    resolved = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert resolved["training_args"]["max_steps"] == 2 and resolved["training_args"]["num_train_epochs"] == 1


def test_unsupported_model_type_lists_the_supported_ones(learnable_har, tmp_path):
    from transformers import ViTConfig, ViTModel

    ViTModel(
        ViTConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            image_size=16,
            patch_size=8,
        )
    ).save_pretrained(tmp_path / "vit")
    with pytest.raises(UserError, match="supported model types: clip, siglip, siglip2"):
        main(training_argv(learnable_har, tmp_path / "vit", tmp_path / "run"), family="clip")
