"""Campaigns: seed arrays and sweep grids rewrite a task's command line; --split_seed keeps the split fixed.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_campaign.py -q        (-m "not slow": ~15 s)
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from argv import training_argv

from har_finetune.core.errors import UserError
from har_finetune.settings import tasks as campaign_tasks
from har_finetune.settings.parser import parse_flags, parse_run

REPO = Path(__file__).resolve().parents[1]
SWEEP = "learning_rate: [1.0e-3, 5.0e-4]\nseed: [1, 2]\n"


@pytest.fixture
def sweep(tmp_path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    return path


def test_sweep_grid_order_and_folders(sweep):
    tasks = campaign_tasks.sweep_tasks(campaign_tasks.read_sweep(sweep), "outputs/grid")
    assert [t.overrides for t in tasks] == [
        (("learning_rate", 1e-3), ("seed", 1)),
        (("learning_rate", 1e-3), ("seed", 2)),
        (("learning_rate", 5e-4), ("seed", 1)),
        (("learning_rate", 5e-4), ("seed", 2)),
    ]  # the file's keys in order, the last one fastest
    assert [Path(t.output_dir).name for t in tasks] == [
        "learning_rate-0.001_seed-1",
        "learning_rate-0.001_seed-2",
        "learning_rate-0.0005_seed-1",
        "learning_rate-0.0005_seed-2",
    ]
    assert tasks[3].flags() == ["--learning_rate", "0.0005", "--seed", "2", "--output_dir", tasks[3].output_dir]


def test_each_sweep_task_parses_into_its_settings(sweep):
    """Task i of `--sweep FILE`, by --task_index or by the Slurm array index, gets combination i and its folder."""
    for index, (lr, seed) in enumerate([(1e-3, 1), (1e-3, 2), (5e-4, 1), (5e-4, 2)]):
        argv = ["--sweep", str(sweep), "--output_dir", "outputs/grid", "--num_train_epochs", "2"]
        for how in (
            {"argv": ["--task_index", str(index)], "env": {}},
            {"argv": [], "env": {"SLURM_ARRAY_TASK_ID": str(index)}},
        ):
            spec = parse_flags(argv + how["argv"], "clip", how["env"])
            data_args, args = spec.data, spec.training
            assert (args.learning_rate, args.seed, args.num_train_epochs) == (lr, seed, 2)
            assert args.output_dir == f"outputs/grid/learning_rate-{lr}_seed-{seed}"
            assert data_args.split_seed == 42  # the split stays put whatever the seed


def test_seed_array_index_is_the_training_seed(monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    spec = parse_run(["--output_dir", "outputs/siglip-3seeds"], "siglip")
    data_args = spec.data
    args = spec.training
    assert (args.seed, args.output_dir, data_args.split_seed) == (3, "outputs/siglip-3seeds/seed-3", 42)
    spec = parse_run([], "siglip")
    args = spec.training  # the family's default folder
    assert args.output_dir == "outputs/siglip/seed-3"
    with pytest.raises(UserError, match="--seed is taken from the task index in a seed campaign"):
        parse_run(["--seed", "7"], "clip")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    args = parse_flags(["--seed", "7"], "clip", {}).training  # not a campaign: untouched
    assert (args.seed, args.output_dir) == (7, "outputs/clip")
    spec = parse_run(["--task_index", "2"], "clip")
    args = spec.training  # the same seed campaign without Slurm
    assert (args.seed, args.output_dir) == (2, "outputs/clip/seed-2")


def test_recipe_output_dir_is_the_campaign_folder(tmp_path, sweep):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("output_dir: outputs/recipe\nlearning_rate: 2.0e-5\n")
    spec = parse_run([str(recipe), "--sweep", str(sweep), "--task_index", "1"], "clip")
    args = spec.training
    assert (args.output_dir, args.learning_rate, args.seed) == ("outputs/recipe/learning_rate-0.001_seed-2", 1e-3, 2)


def test_variants_file_runs_one_task_per_entry(tmp_path):
    """A list of mappings: ablations that change one thing each; {} is the base command."""
    path = tmp_path / "ablation.yaml"
    path.write_text("- {}\n- {wise_ft_alpha: [1.0]}\n- {head: default, layer_decay: 1.0}\n")
    tasks = campaign_tasks.sweep_tasks(campaign_tasks.read_sweep(path), "outputs/ablation")
    assert [Path(t.output_dir).name for t in tasks] == ["base", "wise_ft_alpha-1.0", "head-default_layer_decay-1.0"]
    assert [t.flags()[:-2] for t in tasks] == [
        [],
        ["--wise_ft_alpha", "1.0"],
        ["--head", "default", "--layer_decay", "1.0"],
    ]
    recipe = REPO / "recipes" / "siglip.yaml"
    spec = parse_flags([str(recipe), "--sweep", str(path), "--task_index", "1"], "siglip", {})
    args = spec.training
    assert args.wise_ft_alpha is None and args.output_dir == "outputs/siglip/wise_ft_alpha-1.0"  # alpha 1 alone: off
    assert args.layer_decay == 0.75  # everything else from the recipe


def test_shipped_sweep_files_are_valid():
    assert len(campaign_tasks.read_sweep(REPO / "recipes" / "sweep_lr_decay.yaml")) == 4
    assert len(campaign_tasks.read_sweep(REPO / "recipes" / "ablation_siglip.yaml")) == 6


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (SWEEP, ["--task_index", "4"], "task 4 is beyond the 4 tasks of {sweep}: submit with --array=0-3"),
        (SWEEP, [], "runs one combination per task"),
        (SWEEP, ["--task_index", "0", "--seed", "3"], "--seed is both on the command line and in the sweep file"),
        ("learning_rate: 1e-3\n", ["--task_index", "0"], "is a recipe (name: value, no lists of values)"),
        ("seed: [1, 2]\nlearning_rate: 1e-3\n", ["--task_index", "0"], "'learning_rate' must map to a non-empty list"),
        ("[1, 2]\n", ["--task_index", "0"], "expected a mapping of flag names to lists"),
        ("a: [1\n", ["--task_index", "0"], "is not valid YAML"),
        ("output_dir: [a, b]\n", ["--task_index", "0"], "'output_dir' cannot be swept"),
        (SWEEP, ["--task_index", "x"], "--task-index: invalid int value: 'x'"),
    ],
)
def test_bad_campaigns_are_one_clear_error(sweep, content, argv, message):
    sweep.write_text(content)
    with pytest.raises(UserError) as error:
        parse_flags(["--sweep", str(sweep), *argv], "clip", {})
    assert message.format(sweep=sweep) in str(error.value)


def test_index_beyond_the_grid_is_one_line_exit_2(sweep, tmp_path):
    result = subprocess.run(
        [sys.executable, "fine_tune_har_clip.py", "--sweep", str(sweep), "--output_dir", str(tmp_path / "grid")],
        cwd=REPO,
        env={"SLURM_ARRAY_TASK_ID": "7", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: task 7 is beyond the 4 tasks of {sweep}: submit with --array=0-3"]
    assert not (tmp_path / "grid").exists()


def test_listing_command_prints_the_array_range_and_each_task(sweep):
    result = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", "--sweep", str(sweep), "--output_dir", "outputs/grid"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == f"{sweep}: 4 tasks (0-3)"
    assert f"sbatch --array=0-3 -o 'logs/%x-%A_%a.out' fine_tune_har_clip.slurm --sweep {sweep}" in lines[1]
    assert "--task_index $i" in lines[2]
    assert lines[-1] == "task 3: --learning_rate 0.0005 --seed 2 -> outputs/grid/learning_rate-0.0005_seed-2"


@pytest.mark.slow
def test_sweep_tasks_train_into_their_folders_on_one_split(sweep, tmp_path):
    """Two tasks of the 2 x 2 grid, trained for real: the overrides reach run_config.json, and the two training seeds
    share one split.csv (byte for byte) because the split follows --split_seed."""
    from har_finetune.data.synthetic import make_synthetic_har
    from har_finetune.models.tiny import make_tiny_checkpoint
    from har_finetune.training.job import main

    data = make_synthetic_har(tmp_path / "data", images_per_class=6)
    checkpoint = make_tiny_checkpoint("clip", tmp_path / "tiny-clip")
    common = training_argv(  # the learning rate comes from the sweep
        data, checkpoint, tmp_path / "grid", "--max_steps", "3", "--per_device_train_batch_size", "8",
        "--sweep", str(sweep), "--max_eval_samples", "40", learning_rate=None,
    )  # fmt: skip
    folders = {}
    for index in (0, 1):  # learning rate 1e-3, seeds 1 and 2
        assert main([*common, "--task_index", str(index)], family="clip") == 0
        folders[index] = tmp_path / "grid" / f"learning_rate-0.001_seed-{index + 1}"
        config = json.loads((folders[index] / "run_config.json").read_text())
        assert config["training_args"]["seed"] == index + 1 and config["training_args"]["learning_rate"] == 1e-3
        assert config["data_args"]["split_seed"] == 42
    split_0, split_1 = ((folders[i] / "split.csv").read_bytes() for i in (0, 1))
    assert split_0 == split_1
    tests = [(folders[i] / "test_predictions.csv").read_text().splitlines() for i in (0, 1)]
    assert [line.split(",")[0] for line in tests[0]] == [line.split(",")[0] for line in tests[1]]  # same test images
    assert sorted(p.name for p in (tmp_path / "grid").iterdir()) == sorted(f.name for f in folders.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("learning_rate: [[1.0e-5, 2.0e-5]]\n", "--learning_rate takes one value, the sweep file gives a list"),
        (
            "warmup_ratio: [0.1]\n",
            "--warmup_ratio is a transformers 4 flag, gone in transformers 5: use --warmup_steps",
        ),
        ("learning_rte: [1.0e-5]\n", "unknown flag --learning_rte; did you mean --learning_rate?"),
    ],
)
def test_sweep_values_are_checked_as_flags_are(sweep, content, message):
    sweep.write_text(content)
    with pytest.raises(UserError, match=re.escape(message)):
        parse_flags(["--sweep", str(sweep), "--task_index", "0"], "clip", {})


def test_a_grid_over_a_flag_of_several_values_gives_each_task_a_list(sweep):
    """`wise_ft_alpha: [0.5, 0.7]` is two tasks of one alpha each, as `--wise_ft_alpha 0.5` would be."""
    sweep.write_text("wise_ft_alpha: [0.5, 0.7]\n")
    alphas = [
        parse_flags(["--sweep", str(sweep), "--task_index", str(i), "--head", "zero_shot"], "clip", {}).training
        for i in (0, 1)
    ]
    assert [a.wise_ft_alpha for a in alphas] == [[0.5], [0.7]]


class Built(Exception):
    """Raised by a stand-in for building TrainingArguments: the parsed values have been seen."""


def test_a_swept_precision_counts_as_given_on_a_bf16_gpu(sweep, monkeypatch):
    """bf16 is chosen automatically only when neither precision is given, by the command line or by the task."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.is_bf16_supported", lambda: True)
    built = []

    def record(dtype, values):  # the parsed values as they reach TrainingArguments (no GPU here to build one)
        built.append((values["fp16"], values["bf16"]))
        raise Built

    monkeypatch.setattr("har_finetune.settings.parser._build", record)
    sweep.write_text("fp16: [true, false]\n")
    for index in (0, 1):
        with pytest.raises(Built):
            parse_flags(["--sweep", str(sweep), "--task_index", str(index)], "clip", {})
    with pytest.raises(Built):
        parse_flags([], "clip", {})  # nothing given: bf16 on a bf16 GPU
    assert built == [(True, False), (False, False), (False, True)]


def test_a_recipe_cannot_choose_the_task(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("task_index: 2\n")
    with pytest.raises(UserError, match="'task_index' chooses a campaign task, not a setting"):
        parse_flags([str(recipe)], "clip", {"SLURM_ARRAY_TASK_ID": "5"})
