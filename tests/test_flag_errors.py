"""Errors in flags and the environment (issue 12): each is one line before any work.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_flag_errors.py     # ~40 s

Every case runs the real entry point (`python fine_tune_har_clip.py ARGV`, `python -m har_finetune.predict ARGV`) in
its own process with its own stderr and exit code. Importing torch and transformers costs ~10 s of CPU per process,
so one driver process imports once and forks a child per case (as in test_model_and_data_errors.py). In the driver
the image scan is a tripwire: it writes a marker file and exits 99. A flag case must exit 2 with one `error:` line,
leave no marker (it failed before the scan), no run folder and no pixel cache; the control cases show that the
tripwire fires for valid flags. The read-only pixel cache is a read-only tmpfs mounted in a private mount namespace
(`unshare -rm`) where that is allowed, else a folder without write permission (non-root).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from forking import SCAN_REACHED, run_forked
from helpers_bad_input import make_dataset, tiny_checkpoint
from transformers import AutoConfig, AutoImageProcessor, SiglipForImageClassification

REPO = Path(__file__).resolve().parents[1]

# case -> (extra flags, words the one error line must hold)
FLAG_CASES = {
    "unknown_flag": (["--epochs", "3"], ["unknown flag --epochs", "did you mean --num_train_epochs?"]),
    "transformers4_eval": (["--evaluation_strategy", "steps"], ["--evaluation_strategy", "use --eval_strategy steps"]),
    "transformers4_warmup": (["--warmup_ratio", "0.1"], ["--warmup_ratio", "use --warmup_steps 0.1"]),
    "negative_learning_rate": (["--learning_rate", "-1"], ["--learning_rate must be positive (got -1.0)"]),
    "zero_batch_size": (["--per_device_train_batch_size", "0"], ["--per_device_train_batch_size must be positive"]),
    "zero_epochs": (["--num_train_epochs", "0"], ["--num_train_epochs must be positive", "--max_steps"]),
    "value_of_wrong_type": (["--learning_rate", "fast"], ["--learning_rate", "invalid float value: 'fast'"]),
    "conflicting_strategies": (
        ["--eval_strategy", "epoch", "--save_strategy", "steps"],
        ["--eval_strategy epoch and --save_strategy steps differ", "--load_best_model_at_end false"],
    ),
    "training_arguments_refuse": (
        ["--save_strategy", "steps", "--save_steps", "5", "--eval_steps", "2"],
        ["invalid settings (TrainingArguments)", "not a round multiple of 2"],
    ),
    "report_to_not_installed": (["--report_to", "wandb"], ["--report_to wandb", "pip install wandb"]),
    "push_to_hub_offline": (["--push_to_hub"], ["--push_to_hub", "HF_HUB_OFFLINE is set", "hf upload"]),
    "read_only_pixel_cache": ([], ["pixel cache folder", "read-only", "--pixel_cache_dir", "--no_pixel_cache"]),
    "recipe_syntax_error": ([], ["bad_recipe.yaml line", "YAML syntax error"]),
    "recipe_not_first": ([], ["recipe.yaml: a recipe file must come first"]),
    "missing_local_dataset": ([], ["--dataset tests/no_such_dataset: no such folder"]),
    "read_only_output_dir": ([], ["--output_dir", "cannot be written", "is read-only", "writable --output_dir"]),
    "finished_run_read_only": ([], ["--output_dir", "cannot be written", "is read-only"]),
    "one_class_dataset": ([], ["has 1 class (only 'calling')", "at least 2"]),
    "sweep_given_as_recipe": ([], ["grid.yaml is a sweep file (learning_rate: a list of values)", "--sweep"]),
    "variants_given_as_recipe": ([], ["variants.yaml is a sweep file (a list of variants)", "--sweep"]),
    "recipe_not_utf8": ([], ["latin1.yaml line 2: not UTF-8 text (byte 0xe9)", "save it as UTF-8"]),
}
# `python -m har_finetune.campaign --sweep FILE`: sweep file content -> words of the one error line
SWEEP_CASES = {
    "sweep_misspelled_flag": (b"learning_rte: [1.0e-4, 3.0e-5]\n", ["task 0", "unknown flag --learning_rte"]),
    "sweep_bad_value": (b"seed: [1, 2]\nlearning_rate: [1.0e-4, abc]\n", ["task 1", "--learning_rate 'abc'"]),
    "sweep_zero_epochs": (b"num_train_epochs: [0]\n", ["task 0", "--num_train_epochs must be positive"]),
    "sweep_transformers4_name": (b"warmup_ratio: [0.1]\n", ["--warmup_ratio is a transformers 4 flag"]),
    "sweep_bad_layer_decay": (b"layer_decay: [0.7, 1.5]\n", ["task 1", "--layer_decay must be in (0, 1]"]),
    "sweep_not_utf8": (b"seed: [1]\n# caf\xe9\n", ["line 2: not UTF-8 text (byte 0xe9)"]),
    "recipe_given_as_sweep": (b"learning_rate: 1.0e-4\nseed: 3\n", ["is a recipe (name: value", "first on the"]),
}
CONTROL_CASES = ("valid_flags", "frequent_checkpoints", "no_evaluation", "recipe_with_lists")  # these reach the scan


def _read_only_setup(ro_dir: Path, ro_run: Path) -> tuple[list[str], bool]:
    """(command prefix, possible): read-only mounts in a private namespace (an empty tmpfs on `ro_dir`, `ro_run`
    bound onto itself read-only, its files kept), or folders without write permission (non-root)."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0:
        script = 'mount -t tmpfs -o ro none "$0" && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift'
        return ["unshare", "-rm", "sh", "-c", f'{script} && exec "$@"', str(ro_dir), str(ro_run)], True
    if os.geteuid() != 0:
        ro_dir.chmod(0o555)
        ro_run.chmod(0o555)
        return [], True
    return [], False


def _finished_run(folder: Path) -> Path:
    """What a finished run leaves for the checks before the lock: its settings record and all_results.json."""
    folder.mkdir(parents=True)
    (folder / "run_config.json").write_text("{}")
    (folder / "all_results.json").write_text('{"test_accuracy": 0.5}')
    return folder


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, tiny_checkpoints) -> dict:
    """case -> dict(code, stderr, stdout, scanned, run_dir, cache)."""
    root = tmp_path_factory.mktemp("flag_errors")
    data = make_dataset(root / "data", per_class=4)
    checkpoint = tiny_checkpoint(tmp_path_factory)
    (root / "bad_recipe.yaml").write_text("learning_rate: 1.0e-4\nnum_train_epochs 3\nseed: 1\n")
    (root / "recipe.yaml").write_text("seed: 1\n")
    (root / "grid.yaml").write_text("learning_rate: [1.0e-4, 3.0e-5]\n")
    (root / "variants.yaml").write_text("- {seed: 1}\n- {}\n")
    (root / "latin1.yaml").write_bytes(b"seed: 1\n# caf\xe9\n")
    (root / "lists.yaml").write_text("report_to: [none]\nprompt_templates: ['a photo of {}.']\nseed: 1\n")
    one_class = make_dataset(root / "one_class_data", per_class=4)
    for folder in sorted((one_class / "train").iterdir())[1:]:
        shutil.rmtree(folder)
    ro_dir, ro_run = root / "read_only", _finished_run(root / "finished_read_only")
    ro_dir.mkdir()
    prefix, read_only_possible = _read_only_setup(ro_dir, ro_run)
    cases = {}
    for name, (extra, _) in FLAG_CASES.items():
        cases[name] = {"argv": ["--dataset", str(data), "--model_name_or_path", checkpoint, *extra]}
    cases["recipe_syntax_error"]["argv"].insert(0, str(root / "bad_recipe.yaml"))
    cases["recipe_not_first"]["argv"].append(str(root / "recipe.yaml"))
    cases["missing_local_dataset"]["argv"][1] = "tests/no_such_dataset"  # tests/ exists: a path, not a Hub id
    cases["read_only_pixel_cache"]["env"] = {"HAR_FINETUNE_CACHE": str(ro_dir / "har_finetune")}
    cases["sweep_given_as_recipe"]["argv"].insert(0, str(root / "grid.yaml"))
    cases["variants_given_as_recipe"]["argv"].insert(0, str(root / "variants.yaml"))
    cases["recipe_not_utf8"]["argv"].insert(0, str(root / "latin1.yaml"))
    cases["one_class_dataset"]["argv"][1] = str(one_class)
    cases["read_only_output_dir"]["argv"] += ["--output_dir", str(ro_dir / "run")]
    cases["finished_run_read_only"]["argv"] += ["--output_dir", str(ro_run)]
    if not read_only_possible:
        for name in ("read_only_pixel_cache", "read_only_output_dir", "finished_run_read_only"):
            del cases[name]
    control_flags = {
        "valid_flags": [],
        "frequent_checkpoints": ["--save_strategy", "steps", "--save_steps", "5"],
        "no_evaluation": ["--eval_strategy", "no"],
        "recipe_with_lists": [],  # a recipe, not a sweep: its lists are list settings
    }
    for name, extra in control_flags.items():
        cases[name] = {"argv": ["--dataset", str(data), "--model_name_or_path", checkpoint, *extra]}
    cases["recipe_with_lists"]["argv"].insert(0, str(root / "lists.yaml"))
    for name, case in cases.items():
        case["run"] = "fine_tune_har_clip.py"
        if "--output_dir" not in case["argv"]:
            case["argv"] += ["--output_dir", str(root / "runs" / name)]
        case.setdefault("env", {}).setdefault("HAR_FINETUNE_CACHE", str(root / "caches" / name))
    for name, (content, _) in SWEEP_CASES.items():
        (root / f"{name}.yaml").write_bytes(content)
        argv = ["--sweep", str(root / f"{name}.yaml"), "--output_dir", str(root / "runs" / name)]
        cases[name] = {"run": "har_finetune.campaign", "argv": argv, "env": {"HAR_FINETUNE_CACHE": str(root / name)}}
    cases.update(_predict_cases(root, tiny_checkpoints))
    for case in cases.values():
        case.setdefault("env", {})
    env = {**os.environ, "HF_HOME": str(root / "hf_home"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    results = run_forked(cases, root, env, tuple(prefix))
    for name, outcome in results.items():
        argv, case_env = cases[name]["argv"], cases[name].get("env", {})
        outcome["run_dir"] = Path(argv[argv.index("--output_dir") + 1]) if "--output_dir" in argv else None
        outcome["cache"] = Path(case_env["HAR_FINETUNE_CACHE"]) if "HAR_FINETUNE_CACHE" in case_env else None
        outcome["root"] = root
    return results


def _flag_value(argv: list[str], flag: str) -> Path | None:
    return Path(argv[argv.index(flag) + 1]) if flag in argv else None


def _predict_cases(root: Path, tiny_checkpoints: dict) -> dict:
    """A plain checkpoint (LABEL_0...) and a SigLIP run whose config has text token ids beyond its vocabulary."""
    photos = root / "photos"
    photos.mkdir()
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 40)).save(photos / "red.jpg")
    (photos / "notes.jpg").write_bytes(b"my notes, not a picture\n" * 10)
    siglip_run = root / "siglip_run"
    config = AutoConfig.from_pretrained(tiny_checkpoints["siglip"])
    config.id2label = {0: "calling", 1: "clapping"}
    config.label2id = {"calling": 0, "clapping": 1}
    config.text_config.bos_token_id = config.text_config.vocab_size + 100  # as real SigLIP configs have it
    config.vision_config.vision_use_head = False
    torch.manual_seed(0)
    SiglipForImageClassification.from_pretrained(tiny_checkpoints["siglip"], config=config).save_pretrained(siglip_run)
    AutoImageProcessor.from_pretrained(tiny_checkpoints["siglip"]).save_pretrained(siglip_run)
    return {
        "predict_plain_checkpoint": {
            "run": "har_finetune.predict",
            "argv": [tiny_checkpoints["clip"], str(photos / "red.jpg"), "--output", str(root / "plain.csv")],
        },
        "predict_siglip_run": {
            "run": "har_finetune.predict",
            "argv": [str(siglip_run), str(photos), "--output", str(root / "siglip.csv")],
        },
    }


def _one_error_line(outcome: dict) -> str:
    lines = outcome["stderr"].strip().splitlines()
    assert outcome["code"] == 2, outcome["stderr"][-3000:]
    assert len(lines) == 1 and "Traceback" not in outcome["stderr"], outcome["stderr"][-3000:]
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.slow  # one driver process imports torch and transformers, then forks a child per case
@pytest.mark.parametrize("case", FLAG_CASES)
def test_flag_and_environment_problems_are_one_line_before_the_scan(outcomes, case):
    if case not in outcomes:
        pytest.skip("no way to make a read-only folder here (root without unshare)")
    outcome = outcomes[case]
    line = _one_error_line(outcome)
    assert all(word in line for word in FLAG_CASES[case][1]), line
    assert not outcome["scanned"], "failed only after the image scan had started"
    if case == "finished_run_read_only":
        assert sorted(p.name for p in outcome["run_dir"].iterdir()) == ["all_results.json", "run_config.json"]
    else:
        assert not outcome["run_dir"].exists(), "wrote into the run folder"
    cache = outcome["cache"]
    assert not cache.exists() or not any(cache.iterdir()), "wrote into the pixel cache"


@pytest.mark.slow
@pytest.mark.parametrize("case", SWEEP_CASES)
def test_campaign_checks_every_task_of_a_sweep_as_training_would(outcomes, case):
    """`python -m har_finetune.campaign --sweep FILE` prints the sbatch line only when every task would parse."""
    outcome = outcomes[case]
    line = _one_error_line(outcome)
    assert all(word in line for word in SWEEP_CASES[case][1]), line
    assert "sbatch" not in outcome["stdout"] and not outcome["run_dir"].exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, note",
    [
        ("valid_flags", None),
        ("frequent_checkpoints", "note: evaluating at every checkpoint (--eval_strategy steps --eval_steps 5)"),
        ("no_evaluation", "note: --eval_strategy no: no validation during training"),
        ("recipe_with_lists", None),
    ],
)
def test_valid_flags_reach_the_scan_and_say_what_they_changed(outcomes, case, note):
    outcome = outcomes[case]
    assert outcome["code"] == SCAN_REACHED and outcome["scanned"], outcome["stderr"][-3000:]
    assert "error" not in outcome["stderr"] and "Traceback" not in outcome["stderr"], outcome["stderr"][-3000:]
    if note:
        assert note in outcome["stderr"], outcome["stderr"]


@pytest.mark.slow
def test_predict_refuses_a_plain_checkpoint(outcomes):
    outcome = outcomes["predict_plain_checkpoint"]
    line = _one_error_line(outcome)
    assert "is not a fine-tuned classifier" in line and "LABEL_0" in line, line
    assert not (outcome["root"] / "plain.csv").exists() and "LABEL_0" not in outcome["stdout"]


@pytest.mark.slow
def test_predict_on_siglip_run_is_quiet_and_names_skipped_files_plainly(outcomes):
    outcome = outcomes["predict_siglip_run"]
    assert outcome["code"] == 0, outcome["stderr"][-3000:]
    assert "bos_token_id" not in outcome["stderr"] and "LOAD REPORT" not in outcome["stderr"], outcome["stderr"]
    skipped = [line for line in outcome["stderr"].splitlines() if line.startswith("skipped")]
    assert skipped == [
        f"skipped {outcome['root'] / 'photos' / 'notes.jpg'}: not an image (Pillow cannot identify the format)"
    ]
    assert "BytesIO" not in outcome["stderr"]
    assert "1 image classified, 1 skipped" in outcome["stdout"]
