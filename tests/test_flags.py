"""Flag checks in-process (settings/flag_names.py, parser.py, environment.py): the tables behind the one-line errors.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_flags.py     # ~5 s

The entry-script behaviour (exit code, one stderr line, before the scan) is tests/test_flag_errors.py.
"""

import dataclasses
import re

import pytest
from huggingface_hub import constants

from har_finetune.core.errors import UserError
from har_finetune.settings import environment
from har_finetune.settings import flag_names as flags
from har_finetune.settings.arguments import HarTrainingArguments
from har_finetune.settings.parser import parse_run

FIELDS = {f.name for f in dataclasses.fields(HarTrainingArguments)}


@pytest.mark.parametrize("name", [*flags.RENAMED, *flags.REMOVED])
def test_transformers4_names_are_gone_and_their_replacements_exist(name):
    assert name not in FIELDS  # else the flag works and must not be refused
    for replacement in re.findall(r"--(\w+)", flags.RENAMED.get(name, "")):
        assert replacement in FIELDS, replacement


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("epochs", "num_train_epochs"),
        ("lr", "learning_rate"),
        ("batch_size", "per_device_train_batch_size"),
        ("learningrate", "learning_rate"),
        ("warmup-ratios", "warmup_steps"),
        ("num_train_epoch", "num_train_epochs"),
        ("train_epochs", "num_train_epochs"),
        ("output", "output_dir"),
        ("augmentations", "augmentation"),
    ],
)
def test_closest_flag(typed, meant):
    with pytest.raises(UserError, match=rf"unknown flag --{typed}; did you mean --{meant}\?"):
        parse_run(["--output_dir", "x", f"--{typed}", "1"], "clip")


def strategies(*argv: str) -> tuple:
    spec = parse_run(["--output_dir", "x", "--no_pixel_cache", *argv], "clip")
    args = spec.training
    return (
        args.eval_strategy.value,
        args.eval_steps,
        args.save_strategy.value,
        args.save_steps,
        args.load_best_model_at_end,
    )


EVALUATING, SAVING, FOLLOWING = "note: evaluating at every", "note: saving a checkpoint at every", "note: --eval"


@pytest.mark.parametrize(
    "argv, expected, note",
    [
        ((), ("epoch", None, "epoch", 500, True), None),
        (("--save_strategy", "steps", "--save_steps", "5"), ("steps", 5, "steps", 5, True), EVALUATING),
        (("--save_strategy", "steps"), ("steps", 500, "steps", 500, True), EVALUATING),
        (("--eval_strategy", "steps", "--eval_steps", "20"), ("steps", 20, "steps", 20, True), SAVING),
        (("--eval_strategy", "steps"), ("steps", 10, "steps", 10, True), SAVING),  # eval_steps: logging_steps
        (("--save_strategy", "steps", "--save_steps", "6", "--eval_steps", "3"), ("steps", 3, "steps", 6, True),
         "note: --eval_strategy steps too, following --save_strategy"),
        (("--save_strategy", "steps", "--eval_steps", "50"), ("steps", 50, "steps", 50, True), SAVING),
        (("--eval_strategy", "no"), ("no", None, "epoch", 500, False), "note: --eval_strategy no"),
        (("--save_strategy", "no"), ("epoch", None, "no", 500, False), "note: --save_strategy no"),
        (("--save_strategy", "best"), ("epoch", None, "best", 500, True), None),
        (("--save_strategy", "steps", "--load_best_model_at_end", "false"), ("epoch", None, "steps", 500, False), None),
    ],
)  # fmt: skip
def test_strategies_follow_each_other_for_best_model_selection(argv, expected, note, capsys):
    assert strategies(*argv) == expected
    err = capsys.readouterr().err
    assert (err.startswith(note) and len(err.splitlines()) == 1) if note else err == "", err


def test_notes_come_from_the_first_process_only(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    strategies("--save_strategy", "steps", "--save_steps", "5")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max_steps", "0"], "--max_steps must be positive"),
        (["--num_train_epochs", "0", "--max_steps", "5"], None),  # steps decide: fine
        (["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be positive"),
        (["--weight_decay", "-0.1"], "--weight_decay must not be negative"),
        (["--max_train_samples", "0"], "--max_train_samples must be at least 1"),
        (["--max_unreadable_fraction", "1.5"], "--max_unreadable_fraction must be between 0 and 1"),
        (["--label_smoothing_factor", "1"], r"--label_smoothing_factor must be in \[0, 1\)"),
        (["--save_steps", "0", "--save_strategy", "steps"], "--save_steps must be positive"),
        (["--eval_strategy", "sometimes"], "--eval_strategy sometimes: choose one of no, steps, epoch"),
        (["x.yaml"], "recipe file x.yaml does not exist"),
        (["stray"], "unexpected argument 'stray'"),
    ],
)
def test_values_blame_their_own_flag(argv, message):
    if message is None:
        parse_run(["--output_dir", "x", *argv], "clip")
        return
    with pytest.raises(UserError, match=message):
        parse_run([*argv, "--output_dir", "x"] if argv[0].startswith("-") else argv, "clip")


def test_recipe_errors_name_the_file_and_line(tmp_path):
    bad_json = tmp_path / "r.json"
    bad_json.write_text('{\n  "seed": 1,\n}\n')
    with pytest.raises(UserError, match=r"r.json line 3: JSON syntax error"):
        parse_run([str(bad_json)], "clip")
    renamed = tmp_path / "r.yaml"
    renamed.write_text("seed: 1\nwarmup_ratio: 0.1\n")
    with pytest.raises(UserError, match=r"r.yaml line 2: warmup_ratio is a transformers 4 flag.*--warmup_steps 0.1"):
        parse_run([str(renamed)], "clip")
    unknown = tmp_path / "u.yml"
    unknown.write_text("# settings\nepochs: 3\n")
    with pytest.raises(UserError, match=r"u.yml line 2: unknown setting 'epochs'; did you mean num_train_epochs\?"):
        parse_run([str(unknown)], "clip")


def test_push_to_hub_without_a_reachable_hub(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    with pytest.raises(UserError, match=r"--push_to_hub needs the Hugging Face Hub, which cannot be reached"):
        environment.check_push_to_hub()


def test_finished_run_skips_the_environment_checks(tmp_path):
    (tmp_path / "run_config.json").write_text("{}")  # a finished run of ours: its record and its results
    (tmp_path / "all_results.json").write_text("{}")
    parse_run(["--output_dir", str(tmp_path), "--report_to", "wandb"], "clip")  # nothing to run: no check
    with pytest.raises(UserError, match="pip install wandb"):
        parse_run(["--output_dir", str(tmp_path / "new"), "--report_to", "wandb"], "clip")


def test_another_tools_results_are_not_taken_for_a_run_of_ours(tmp_path):
    """A stock Trainer's output (all_results.json, a model, no run_config.json): refused, never 'finished'."""
    for name in ("all_results.json", "config.json", "model.safetensors"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(UserError, match="holds files that are not a run of this tool"):
        parse_run(["--output_dir", str(tmp_path)], "clip")
