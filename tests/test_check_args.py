"""The command line checked before any work: the Slurm batch script's gate, --help, macOS, usage names.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_check_args.py     # ~30 s

scripts/slurm_job.sh runs for real here, with `srun` and `scontrol` replaced by stand-ins that record their calls
(no cluster needed): a bad flag must end the job with one error line and exit 2 before srun, a finished run must
exit 0 in seconds without srun, and valid flags must reach srun. tests/test_slurm.py runs the whole job on a cluster.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench
from har_finetune import demo, prefetch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch_host(tmp_path_factory) -> Path:
    """A "virtual environment" whose bin/activate puts this interpreter's folder and stand-in `srun`/`scontrol` on
    the PATH."""
    root = tmp_path_factory.mktemp("batch_host")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "activate").write_text(f'export PATH="{bin_dir}:{Path(sys.executable).parent}:$PATH"\n')
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).write_text(f'#!/bin/bash\necho "{tool} $*" >> "$STAND_IN_LOG"\necho localhost\n')
        (bin_dir / tool).chmod(0o755)
    return root


def run_batch_script(
    batch_host: Path, tmp_path: Path, *flags: str, env: dict[str, str] | None = None
) -> tuple[int, str, list[str]]:
    """(exit code, the job's log, calls of srun/scontrol) of `slurm_job.sh clip FLAGS` as sbatch would start it."""
    calls = tmp_path / "calls.log"
    env = {
        **os.environ,
        "VENV": str(batch_host),
        "SLURM_SUBMIT_DIR": str(REPO),
        "SLURM_JOB_ID": "7",
        "SLURM_JOB_NODELIST": "localhost",
        "SLURM_JOB_NUM_NODES": "1",
        "STAND_IN_LOG": str(calls),
        "HF_HUB_OFFLINE": "1",
        "HAR_FINETUNE_CACHE": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
        **(env or {}),
    }
    job = subprocess.run(
        ["bash", "scripts/slurm_job.sh", "clip", *flags],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one log file, as #SBATCH --output gives
        timeout=300,
    )
    return job.returncode, job.stdout, calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.slow  # a Python process imports torch and transformers
def test_batch_script_refuses_a_bad_flag_in_one_line_before_srun(batch_host, tmp_path):
    code, log, calls = run_batch_script(batch_host, tmp_path, "--epochs", "3", "--output_dir", str(tmp_path / "run"))
    assert code == 2, log
    assert log.strip().splitlines() == ["error: unknown flag --epochs; did you mean --num_train_epochs?"], log
    assert calls == [] and not (tmp_path / "run").exists()


@pytest.mark.slow  # a Python process imports torch and transformers
def test_batch_script_recognises_a_finished_run_without_srun(batch_host, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text(json.dumps({"identity": {"world_size": 1}}))
    (run / "all_results.json").write_text(json.dumps({"test_accuracy": 0.9}))
    before = files_of(run)
    code, log, calls = run_batch_script(batch_host, tmp_path, "--output_dir", str(run))
    assert code == 0, log
    assert log.strip().splitlines() == [f"{run} holds a finished run (all_results.json); not training again"], log
    assert calls == [] and files_of(run) == before


def files_of(run: Path) -> dict[str, int]:
    """The run's visible files and their modification times (the hidden lock is the lock's business)."""
    return {p.name: p.stat().st_mtime_ns for p in run.iterdir() if not p.name.startswith(".")}


@pytest.mark.slow  # a Python process imports torch and transformers
def test_batch_script_refuses_another_world_size_and_a_folder_in_use_before_srun(batch_host, tmp_path):
    """A run recorded with 1 process, resumed by a job of 2 (NPROC_PER_NODE=2): refused before srun; a folder whose
    lock a live process holds: refused before srun, naming the holder."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text(json.dumps({"identity": {"world_size": 1}}))
    code, log, calls = run_batch_script(batch_host, tmp_path, "--output_dir", str(run), env={"NPROC_PER_NODE": "2"})
    assert code == 2 and calls == [], log
    assert log.strip().splitlines() == [
        f"error: --output_dir {run} holds an unfinished run with other settings (the number of training processes "
        "1 -> 2); rerun its original command to resume it (see its run_config.json), or choose a new --output_dir "
        "for these settings"
    ], log
    holder = subprocess.Popen(  # holds the folder's lock until its stdin closes
        [sys.executable, "-c", f"from har_finetune.run_folder.lock import RunLock\nwith RunLock({str(run)!r}):\n"
         "    print('held', flush=True); input()"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code, log, calls = run_batch_script(batch_host, tmp_path, "--output_dir", str(run))
    finally:
        holder.communicate("\n", timeout=60)
    assert code == 2 and calls == [], log
    assert "is in use by another training process" in log and f"pid {holder.pid}" in log, log


@pytest.mark.slow  # a Python process imports torch and transformers
def test_batch_script_starts_srun_for_valid_flags(batch_host, tmp_path):
    code, log, calls = run_batch_script(batch_host, tmp_path, "--output_dir", str(tmp_path / "run"), "--seed", "3")
    assert code == 0, log
    srun = [call for call in calls if call.startswith("srun ")]
    assert len(srun) == 1 and srun[0].endswith("fine_tune_har_clip.py --output_dir " + f"{tmp_path / 'run'} --seed 3")
    assert "error" not in log


CHECK_WITHOUT_AFFINITY = """
import os, runpy, sys
del os.sched_getaffinity  # as on macOS
for argv, expected in ((["--help"], 0), (["--epochs", "3"], 2)):  # --help and a flag error: the settings alone
    sys.argv = ["fine_tune_har_clip.py", *argv]
    try:
        runpy.run_path("fine_tune_har_clip.py", run_name="__main__")
    except SystemExit as stop:
        assert stop.code == expected, stop.code
stack = ("har_finetune.training.job", "torchvision", "sklearn", "pandas", "datasets")
print("training stack imported:", [m for m in stack if m in sys.modules])
from har_finetune.settings.parser import parse_flags
args = parse_flags(["--output_dir", "x"], "clip").training
assert args.dataloader_num_workers == min(8, max(0, os.cpu_count() - 1)), args.dataloader_num_workers
"""


@pytest.mark.slow  # a Python process imports torch and transformers
def test_settings_work_without_sched_getaffinity_and_help_skips_the_training_stack():
    result = subprocess.run(
        [sys.executable, "-c", CHECK_WITHOUT_AFFINITY],
        cwd=REPO,
        text=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("Fine-tune a CLIP vision tower on Human Action Recognition")
    assert result.stderr.strip().splitlines() == ["error: unknown flag --epochs; did you mean --num_train_epochs?"]
    assert "training stack imported: []" in result.stdout


def test_help_says_what_the_command_does_then_the_flags_people_reach_for_first(capsys):
    from har_finetune.settings import parser as settings_parser

    with pytest.raises(SystemExit) as stop:
        settings_parser.parse_flags(["--help"], "siglip", {})
    text = capsys.readouterr().out
    assert stop.value.code == 0
    assert text.startswith("Fine-tune a SigLIP or SigLIP 2 vision tower") and "usage:" not in text
    titles = [line for line in text.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert titles == [
        "options:",
        "this tool's settings (model, data, fine-tuning):",
        "campaigns (python -m har_finetune.campaign --sweep FILE lists a sweep's tasks):",
        "common Trainer settings:",
        "every other transformers TrainingArguments flag:",
    ], titles
    sections = dict(zip(titles, text.split("\n\n")[2:]))
    flags_in = {title: re.findall(r"^  (--\w+)", body, re.MULTILINE) for title, body in sections.items()}
    assert flags_in[titles[1]][:3] == ["--model_name_or_path", "--head", "--prompt_templates"]
    assert {"--dataset", "--split_seed", "--layer_decay", "--wise_ft_alpha"} <= set(flags_in[titles[1]])
    assert flags_in[titles[2]] == ["--sweep", "--task_index"]
    assert flags_in[titles[3]][:4] == ["--output_dir", "--learning_rate", "--num_train_epochs", "--max_steps"]
    assert {"--per_device_train_batch_size", "--seed", "--bf16"} <= set(flags_in[titles[3]])
    assert "(default: None)" not in text and "--output-dir" not in text
    every = {o for a in settings_parser._Parser(settings_parser.SETTINGS)._actions for o in a.option_strings}
    assert {o for o in every if o.startswith("--") and "-" not in o[2:]} <= set(re.findall(r"--\w+", text))


@pytest.mark.parametrize(
    "command, main",
    [
        ("python -m har_finetune.demo", demo.main),
        ("python -m har_finetune.prefetch", prefetch.main),
        ("python benchmarks/bench.py", bench.parse_args),
    ],
    ids=str,
)
def test_help_names_the_command_to_type(command, main, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {command} ")
