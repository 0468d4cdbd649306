"""The first hour of a new user (issue 29): every message true, every setting honoured or refused, the same tiny
checkpoints on every install, every finished job exit 0. Each test starts from a user's command line.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_first_hour.py     # ~1.5 min (the torchrun test: slow)

Two real runs (a CLIP run and a SigLIP run, subprocesses, their stderr kept) serve several tests; the flag-level
cases share one forking driver (tests/forking.py), which stops each child at the image scan.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from argv import training_argv
from forking import SCAN_REACHED, run_forked
from helpers_bad_input import BROKEN_FILES, CLASSES, make_dataset, tiny_checkpoint

REPO = Path(__file__).resolve().parents[1]
# The run A command: evaluation every 4 steps of 10 (and the final one at step 10), 22 of the training images
RUN_A_FLAGS = (
    "--max_steps", "10", "--per_device_train_batch_size", "4", "--eval_strategy", "steps", "--eval_steps", "4",
    "--save_strategy", "steps", "--save_steps", "4", "--warmup_steps", "0", "--max_train_samples", "22",
    "--max_unreadable_fraction", "0.2",
)  # fmt: skip
BROKEN = ("truncated.jpg", "zero_bytes.jpg")

# What a standard run may print on stderr (docs/bad_input.md "What a run prints on stderr"): progress bars only.
ALLOWED_STDERR = (re.compile(r"^[\w ]+: +\d+%\|"),)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **extra}


def _train(family: str, argv: list[str], **popen) -> subprocess.CompletedProcess:
    command = [sys.executable, f"fine_tune_har_{family}.py", *argv]
    return subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300, **popen)


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> dict:
    """A 3-class dataset with two broken files, tiny CLIP and SigLIP checkpoints."""
    root = tmp_path_factory.mktemp("first_hour")
    data = make_dataset(root / "data", per_class=12)
    for name in BROKEN:
        (data / "train" / CLASSES[0] / name).write_bytes(BROKEN_FILES[name][0])
    return {
        "root": root,
        "data": data,
        "clip": tiny_checkpoint(tmp_path_factory, "clip"),
        "siglip": tiny_checkpoint(tmp_path_factory, "siglip"),
    }


@pytest.fixture(scope="module")
def run_a(material) -> dict:
    """A finished CLIP run (the user's command, a subprocess): its folder, log (stdout), stderr and argv."""
    out = material["root"] / "run_a"
    argv = training_argv(material["data"], material["clip"], out, *RUN_A_FLAGS)
    result = _train("clip", argv)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"out": out, "log": result.stdout, "stderr": result.stderr, "argv": argv}


@pytest.fixture(scope="module")
def forked(material, run_a, tmp_path_factory) -> dict:
    """Flag-level cases through the real entry points (one forking driver); each child stops at the image scan."""
    root, data, clip = material["root"], material["data"], material["clip"]
    checkpoints = root / "checkpoints"
    shutil.copytree(clip, checkpoints / "tiny_clip")

    def case(out: str, *argv: str) -> dict:
        return {"run": "fine_tune_har_clip.py", "argv": [*argv, "--output_dir", str(root / out)]}

    cases = {
        "typo_in_folder": case("o1", "--dataset", str(data), "--model_name_or_path", str(checkpoints / "tiny_clp")),
        "absolute_missing": case("o2", "--dataset", str(data), "--model_name_or_path", "/nonexistent/w/nope"),
        "relative_missing": case("o3", "--dataset", str(data), "--model_name_or_path", "./no_such_dir/tiny_clip"),
        "weights_file_name": case("o4", "--dataset", str(data), "--model_name_or_path", "model.safetensors"),
        "weights_file_typo": case(
            "o10", "--dataset", str(data), "--model_name_or_path", str(checkpoints / "tiny_clip" / "modl.safetensors")
        ),
        "weights_file": case(
            "o5", "--dataset", str(data), "--model_name_or_path", str(checkpoints / "tiny_clip" / "model.safetensors")
        ),
        "hub_id": case("o6", "--dataset", str(data), "--model_name_or_path", "nobody/no-such-model"),
        "train_folder": case("o7", "--dataset", str(data / "train"), "--model_name_or_path", clip),
        "fp16_on_cpu": case("o8", "--dataset", str(data), "--model_name_or_path", clip, "--fp16", "True"),
        "bf16_on_cpu": case("o9", "--dataset", str(data), "--model_name_or_path", clip, "--bf16", "True"),
        # the cluster's rerun of run A: a GPU with bf16 chooses --bf16 by itself (parser._auto_precision)
        "cluster_rerun": {"run": "fine_tune_har_clip.py", "argv": [*run_a["argv"], "--bf16", "True"]},
        "help": {"run": "fine_tune_har_clip.py", "argv": ["--help"]},
    }
    env = _env(HF_HOME=str(root / "hf_home"), HF_DATASETS_OFFLINE="1")
    return run_forked(cases, tmp_path_factory.mktemp("forked"), env) | {"checkpoints": checkpoints}


def _one_error_line(outcome: dict) -> str:
    lines = [line for line in outcome["stderr"].splitlines() if line.strip()]
    assert outcome["code"] == 2 and not outcome["scanned"], outcome["stderr"][-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome["stderr"]
    return lines[0]


def test_a_mistyped_local_model_path_is_no_such_folder_with_the_closest_name(forked):
    """Item 1: absolute, ./ and file-name paths are places on this machine, not Hub ids."""
    typo = _one_error_line(forked["typo_in_folder"])
    assert f"the closest existing one is {forked['checkpoints'] / 'tiny_clip'};" in typo, typo
    for name in ("typo_in_folder", "absolute_missing", "relative_missing", "weights_file_name"):
        line = _one_error_line(forked[name])
        assert "no such folder" in line and "prefetch" not in line and "HF_HUB_OFFLINE" not in line, line
    weights_file = _one_error_line(forked["weights_file"])
    assert "is a file; pass the folder that holds it" in weights_file and "prefetch" not in weights_file
    weights_typo = _one_error_line(forked["weights_file_typo"])  # the closest name is a file: its folder, then
    assert f"the closest existing folder is {forked['checkpoints'] / 'tiny_clip'} (it holds model.safetensors);" in (
        weights_typo
    ), weights_typo
    hub = _one_error_line(forked["hub_id"])  # a Hub-looking id keeps the Hub advice
    assert "prefetch --model nobody/no-such-model" in hub and "no such folder" not in hub
    assert "not in the local cache; HF_HUB_OFFLINE is set (offline)" in hub and "on the Hub" not in hub, hub


def test_precision_is_honoured_or_refused_and_recorded_as_run(forked, run_a):
    """Item 2: --fp16 without a GPU refused in one line; --bf16 runs as CPU autocast, said once; the precision
    recorded is the one the run computed in; the cluster's rerun (bf16 by itself) is not blocked by the record."""
    fp16 = _one_error_line(forked["fp16_on_cpu"])
    assert "--fp16 needs a GPU" in fp16 and "--bf16" in fp16
    bf16 = forked["bf16_on_cpu"]
    assert bf16["code"] == SCAN_REACHED and bf16["stderr"].count("bf16 autocast on the CPU") == 1, bf16["stderr"]
    config = json.loads((run_a["out"] / "run_config.json").read_text())
    results = json.loads((run_a["out"] / "all_results.json").read_text())
    assert config["precision"] == results["precision"] == "fp32 on cpu"
    rerun = forked["cluster_rerun"]
    assert rerun["code"] == 0 and not rerun["scanned"], rerun["stderr"][-2000:]
    assert "holds a finished run" in rerun["stdout"]


def test_the_validation_plot_title_says_when_evaluation_ran(run_a, monkeypatch):
    """Item 3: evaluations at steps 4, 8 and 10 (the end) are not "every 3 steps"."""
    from matplotlib.figure import Figure

    import plot_metrics

    titles = []
    original = Figure.suptitle
    monkeypatch.setattr(Figure, "suptitle", lambda fig, text, **kw: titles.append(text) or original(fig, text, **kw))
    monkeypatch.setattr(sys, "argv", ["plot_metrics.py", str(run_a["out"])])
    assert plot_metrics.main() == 0
    validation = [t for t in titles if "validation" in t]
    assert validation and all(t.endswith("validation every 4 steps and at step 10") for t in validation), titles


def _unexpected_stderr(stderr: str) -> list[str]:
    lines = [part.strip() for line in stderr.splitlines() for part in line.split("\r") if part.strip()]
    return [line for line in lines if not any(allowed.match(line) for allowed in ALLOWED_STDERR)]


def test_a_standard_run_prints_nothing_unexpected_on_stderr(material, run_a):
    """Item 4: a tiny CLIP run and a tiny SigLIP run (user's commands) print only the documented lines on stderr."""
    siglip = _train("siglip", training_argv(material["data"], material["siglip"], material["root"] / "run_s",
                                           "--max_steps", "4", "--max_unreadable_fraction", "0.2"))  # fmt: skip
    assert siglip.returncode == 0, siglip.stderr[-3000:]
    assert _unexpected_stderr(siglip.stderr) == []
    assert _unexpected_stderr(run_a["stderr"]) == []


def test_ctrl_c_says_the_same_command_resumes(material):
    """Item 5: Ctrl-C (SIGINT) during training: exit 130 and a line naming the checkpoint the same command resumes
    from. A background job of a non-interactive shell starts with SIGINT ignored: restore the default first."""
    out = material["root"] / "interrupted"
    argv = training_argv(material["data"], material["clip"], out, "--max_steps", "100000", "--save_steps", "3",
                         "--save_strategy", "steps", "--eval_strategy", "no",
                         "--max_unreadable_fraction", "0.2")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "fine_tune_har_clip.py", *argv], cwd=REPO, env=_env(), text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "checkpoint-6" / "trainer_state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(rf"interrupted; the same command resumes the run in {out} from (checkpoint-\d+), .*", last)
    assert match, last
    from har_finetune.run_folder.checkpoints import latest_complete_checkpoint

    assert Path(latest_complete_checkpoint(out)).name == match.group(1)


# SHA-256 of the tiny checkpoints' tensors (name, shape, float32 bytes, by name), the same with transformers 5.24 +
# accelerate 1.15 (requirements.txt) and transformers 5.25 + accelerate 1.16 (the newest, what `pip install .` got)
TINY_WEIGHTS = {
    "clip": "dc392794ac12c6d6e0f8e04496ee4b8893ddcf1ebc44b14dddeda2ad629b5b33",
    "siglip": "1b8a71837807253bf1139147c0fa3e0c5a533bb7891be010325faf8ea2f04dd6",
}


@pytest.mark.parametrize("family", sorted(TINY_WEIGHTS))
def test_the_demo_checkpoints_are_the_same_weights_on_every_install(family, tmp_path):
    """Item 6: the demo's tiny checkpoints are built from fixed tensors, not the library's random initialisation."""
    from safetensors.numpy import load_file

    from har_finetune.demo import demo_plan

    plan = demo_plan(tmp_path / "demo", images_per_class=2)
    checkpoint = next(model.checkpoint for model in plan.models if model.name == family)
    tensors = load_file(str(Path(checkpoint) / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name], dtype=np.float32)
        digest.update(f"{name}{value.shape}".encode() + value.tobytes())
    assert digest.hexdigest() == TINY_WEIGHTS[family]


def test_smaller_messages_are_true(forked, run_a, tmp_path):
    """Item 7: --help without "(default: default)"; a dataset's train/ names the dataset folder; the split line
    says how many training images --max_train_samples keeps; each skipped image is named once in the log and the
    summary names the file listing them; an unfinished run's epochs are rounded in REPORT.md."""
    help_text = forked["help"]["stdout"]
    assert forked["help"]["code"] == 0 and "--head" in help_text and "(default: default)" not in help_text
    train_folder = _one_error_line(forked["train_folder"])
    assert train_folder.endswith(f"pass the dataset folder: --dataset {run_a['argv'][1]}"), train_folder
    log = run_a["log"]
    assert re.search(r"split \(carved test split\): \d+ train \(22 used, --max_train_samples\)", log), log
    assert str(run_a["out"] / "skipped_images.csv") in log
    for name in BROKEN:
        assert len(re.findall(rf"skipped train/{CLASSES[0]}/{name}: ", log)) == 1, log
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_a["out"], unfinished)
    (unfinished / "all_results.json").unlink()  # as if stopped at step 10 of more: 10 steps of 6 = 1.666... epochs
    from har_finetune.reporting.plot_command import main as plot_main

    assert plot_main([str(unfinished), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "REPORT.md").read_text()
    assert "| 1.67 |" in report and "1.66667" not in report


# Loaded by every process of the torchrun job (PYTHONPATH): at exit, each training process records whether its
# process group is still alive, i.e. whether communication threads were left running into interpreter shutdown.
EXIT_PROBE = """
import atexit, os
def _record(log=os.environ["EXIT_PROBE_LOG"]):
    import sys
    dist = sys.modules.get("torch.distributed")
    if "RANK" in os.environ and dist is not None:
        with open(log, "a") as f:
            f.write(f"{os.environ['RANK']} {dist.is_initialized()}\\n")
atexit.register(_record)
"""


@pytest.mark.slow
def test_a_distributed_run_destroys_its_process_group_on_every_rank(material, tmp_path):
    """Item 8: `torchrun --nproc_per_node=2` (gloo): every rank ends with its process group destroyed, exit 0."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "sitecustomize.py").write_text(EXIT_PROBE)
    argv = training_argv(material["data"], material["clip"], tmp_path / "run", "--max_steps", "4", "--use_cpu", "True",
                         "--max_unreadable_fraction", "0.2")  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "fine_tune_har_clip.py", *argv]  # fmt: skip
    env = _env(PYTHONPATH=str(tmp_path / "probe"), EXIT_PROBE_LOG=str(tmp_path / "exits"))
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert sorted((tmp_path / "exits").read_text().splitlines()) == ["0 False", "1 False"]
