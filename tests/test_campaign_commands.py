"""`python -m har_finetune.campaign submit|run|status|report|tasks`: a campaign from one command to the report.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_campaign_commands.py      # ~2 min (three tiny campaigns)
OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_campaign_commands.py -m "not slow"    # ~10 s
(The same campaign under Slurm, and the two agree: tests/test_campaign_slurm.py.)
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_bad_input import make_dataset, tiny_checkpoint
from run_folders import interrupted_run, make_run

from har_finetune.campaign import cli as campaign_cli
from har_finetune.campaign import main as campaign_main
from har_finetune.campaigns.plan import Model, read_record
from har_finetune.core.errors import UserError
from har_finetune.settings.parser import parse_flags
from har_finetune.settings.tasks import campaign_tasks

REPO = Path(__file__).resolve().parents[1]
CAMPAIGN_FLAGS = [
    "--num_train_epochs", "2", "--per_device_train_batch_size", "8", "--learning_rate", "1e-3",
    "--logging_steps", "50", "--dataloader_num_workers", "0", "--disable_tqdm", "True",
]  # fmt: skip
FOREIGN = "holds files that are not a run of this tool"


def campaign_argv(command: str, har: str, checkpoints: dict, out: Path) -> list[str]:
    models = [f"clip={checkpoints['clip']}", f"siglip={checkpoints['siglip']}"]
    return [command, "--models", *models, "--seeds", "2", "--output_dir", str(out), "--dataset", har, *CAMPAIGN_FLAGS]


def break_task(out: Path) -> None:
    """Make task siglip/seed-2 fail: its run folder holds a file of someone else's (training refuses it)."""
    (out / "siglip" / "seed-2").mkdir(parents=True)
    (out / "siglip" / "seed-2" / "notes.txt").write_text("not a run")


def test_models_entries_name_their_folders():
    assert Model.parse("clip") == Model("clip", None, "clip")
    assert Model.parse("siglip=google/siglip2-base-patch16-224").name == "siglip2-base-patch16-224"
    with pytest.raises(UserError, match="family must be one of clip, siglip"):
        Model.parse("vit=google/vit-base")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seed", "3"], "clip/seed-1: --seed is taken from the task index in a seed campaign"),
        (["--task_index", "2"], "--task_index is set by the campaign"),
        (["--output_dir", "x", "--models", "clip", "clip"], "two models share a folder name"),
        (["--output_dir", "x", "--models", "clip", "--epochs", "3"], "unknown flag --epochs"),
    ],
)
def test_bad_campaigns_are_one_line_before_anything_runs(tmp_path, extra, message, capsys):
    argv = ["run", "--models", "clip", "--output_dir", str(tmp_path / "c"), *extra]
    with pytest.raises(UserError, match=message):
        campaign_main(argv)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    "command, flags, message",
    [
        ("run", ["--models", "clip=/tmp/nope-model"], "--model_name_or_path /tmp/nope-model: no such folder"),
        ("submit", ["--models", "clip", "--dataset", "/tmp/nope-data"], "--dataset /tmp/nope-data: no such folder"),
    ],
)
def test_a_missing_model_or_dataset_folder_is_one_line_before_anything_is_written(tmp_path, command, flags, message):
    """What every task's training would refuse at its start: said once, exit 2, no campaign.json, no model folder."""
    out = tmp_path / "c"
    argv = [command, *flags, "--seeds", "2", "--output_dir", str(out), "--max_steps", "2"]
    done = subprocess.run([sys.executable, "-m", "har_finetune.campaign", *argv], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == "", done
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: ") and message in done.stderr
    assert not out.exists() and not Path("/tmp/nope-model").exists()


@pytest.mark.parametrize("command", ["status", "report"])
def test_a_folder_without_campaign_is_one_line_and_exit_2(tmp_path, command):
    done = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", command, str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: {tmp_path}: no campaign here (no readable campaign.json: written by `campaign submit` or `run`)"
    ]


def test_the_report_notes_a_task_interrupted_before_its_first_checkpoint(tmp_path):
    """A finished seed and one interrupted (run_config.json, a checkpoint-N/ without trainer_state.json): a note,
    exit 0, and no resume warning (that is training's)."""
    record = {"models": [{"family": "clip", "checkpoint": None, "name": "clip"}], "seeds": 2, "sweep": None}
    (tmp_path / "campaign.json").write_text(json.dumps({**record, "training_flags": []}))
    make_run(tmp_path / "clip" / "seed-1")
    interrupted_run(tmp_path / "clip" / "seed-2")
    done = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", "report", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "error" not in done.stderr and "resuming" not in done.stderr.lower(), done
    assert "seed-2: note: train_metrics.png and eval_metrics.png skipped" in done.stdout
    assert (tmp_path / "report" / "REPORT.md").is_file()


def test_status_of_a_folder_that_does_not_exist_says_no_such_folder(tmp_path):
    (tmp_path / "campaign").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", "status", str(tmp_path / "campain")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: {tmp_path / 'campain'}: no such folder ({tmp_path / 'campain'}); the closest existing one is "
        f"{tmp_path / 'campaign'}; pass the campaign's --output_dir (campaign submit or run)"
    ]


def test_one_failed_task_is_counted_in_the_singular(tmp_path):
    record = {"models": [{"family": "clip", "checkpoint": None, "name": "clip"}], "seeds": 1, "sweep": None}
    outcomes = {"clip/seed-1": {"exit_code": 2, "error": "error: --dataset /tmp/x: no such folder"}}
    (tmp_path / "campaign.json").write_text(json.dumps({**record, "training_flags": [], "outcomes": outcomes}))
    done = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", "status", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "1 task: 1 failed", done


SUBCOMMANDS = ("submit", "run", "status", "report", "tasks")


@pytest.mark.parametrize("argv", [["--help"], []], ids=["help", "bare"])
def test_the_command_names_every_subcommand(argv):
    done = subprocess.run([sys.executable, "-m", "har_finetune.campaign", *argv], capture_output=True, text=True)
    assert done.returncode == (0 if argv else 2)
    text = done.stdout + done.stderr
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{name}\s+\w", text, re.MULTILINE), (name, text)  # listed with its help line


def test_the_console_script_names_every_subcommand(monkeypatch, capsys):
    """`har-campaign --help` (pyproject.toml: har_finetune.campaign:cli) is the same parser."""
    monkeypatch.setattr(sys, "argv", ["har-campaign", "--help"])
    with pytest.raises(SystemExit) as done:
        campaign_cli()
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert all(re.search(rf"^\s+{name}\s+\w", help_text, re.MULTILINE) for name in SUBCOMMANDS), help_text


def test_sweep_listing_still_works(tmp_path, capsys):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("seed: [1, 2]\n")
    assert campaign_main(["--sweep", str(sweep)]) == 0  # the short form
    short = capsys.readouterr().out
    assert campaign_main(["tasks", "--sweep", str(sweep)]) == 0
    assert capsys.readouterr().out == short and short.startswith(f"{sweep}: 2 tasks (0-1)")


def test_a_sweep_with_seeds_plans_each_task_once_per_seed(tmp_path):
    """`--sweep FILE --seeds 2`: each task of the file once per seed, the seed fastest; a file that sweeps the seed
    itself is refused before anything is written."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("learning_rate: [1.0e-3, 5.0e-4]\n")
    tasks = campaign_tasks(tmp_path / "clip", sweep, range(1, 3))
    assert [(t.index, t.name) for t in tasks] == [
        (0, "learning_rate-0.001_seed-1"), (1, "learning_rate-0.001_seed-2"),
        (2, "learning_rate-0.0005_seed-1"), (3, "learning_rate-0.0005_seed-2"),
    ]  # fmt: skip
    sweep.write_text("seed: [1, 2]\n")
    out = tmp_path / "c"
    with pytest.raises(UserError, match="sweeps the seed already: drop --seeds"):
        campaign_main(["run", "--models", "clip", "--seeds", "2", "--sweep", str(sweep), "--output_dir", str(out)])
    assert not out.exists()


SBATCH = """#!{python}
import json, sys
from pathlib import Path

calls = Path({calls!r})
n = len(list(calls.iterdir()))
(calls / f"{{n:02d}}.json").write_text(json.dumps(sys.argv[1:]))
print(100 + n)
"""


def stand_in_sbatch(tmp_path: Path, monkeypatch) -> Path:
    """An `sbatch` on PATH that records each call's arguments (calls/NN.json) and answers job ids 100, 101, ..."""
    calls, bin_dir = tmp_path / "calls", tmp_path / "bin"
    calls.mkdir()
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(SBATCH.format(python=sys.executable, calls=str(calls)))
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return calls


def resolved_by_training(calls: Path) -> list[Path]:
    """The run folder the training parser resolves for each index of each submitted array, as the array task's
    check_args and training do with its SLURM_ARRAY_TASK_ID."""
    folders = []
    for call in sorted(calls.iterdir()):
        args = json.loads(call.read_text())
        array = next((a.removeprefix("--array=") for a in args if a.startswith("--array=")), None)
        if array is None:
            continue  # the report job
        script = next(i for i, a in enumerate(args) if a.endswith(".slurm"))
        family = re.fullmatch(r"fine_tune_har_(\w+)\.slurm", args[script]).group(1)
        first, last = map(int, array.split("-"))
        for index in range(first, last + 1):
            spec = parse_flags(args[script + 1 :], family, env={"SLURM_ARRAY_TASK_ID": str(index)})
            folders.append(spec.run_dir)
    return folders


CAMPAIGN_KINDS = {  # the campaign's task flags, its sweep file, the folders of its tasks
    "seeds": (["--seeds", "2"], None, ["seed-1", "seed-2"]),
    "sweep": (["--sweep"], "learning_rate: [1.0e-3, 5.0e-4]\n", ["learning_rate-0.001", "learning_rate-0.0005"]),
    "sweep+seeds": (["--seeds", "2", "--sweep"], "learning_rate: [1.0e-3]\n", [
        "learning_rate-0.001_seed-1", "learning_rate-0.001_seed-2"
    ]),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(CAMPAIGN_KINDS))
def test_submit_run_and_report_use_the_folders_training_resolves(
    kind, learnable_har, tiny_checkpoints, tmp_path, monkeypatch, capsys
):
    """One campaign (2 seeds, a 2-task sweep file, or a sweep file's task x 2 seeds) submitted to a stand-in sbatch
    and run here: each array index, parsed by the training parser, trains into a folder the campaign plans; `run`
    trains exactly those folders; status and the report follow them all to "finished"."""
    tasks, content, expected = CAMPAIGN_KINDS[kind]
    if content:
        (tmp_path / "sweep.yaml").write_text(content)
        tasks = [*tasks, str(tmp_path / "sweep.yaml")]
    flags = ["--max_steps", "2", "--per_device_train_batch_size", "8", "--max_eval_samples", "30", "--logging_steps",
             "1", "--dataloader_num_workers", "0", "--disable_tqdm", "True", "--dataset", learnable_har]  # fmt: skip

    def campaign(command: str, out: Path) -> list[str]:
        return [command, "--models", f"clip={tiny_checkpoints['clip']}", *tasks, "--output_dir", str(out), *flags]

    calls = stand_in_sbatch(tmp_path, monkeypatch)
    monkeypatch.chdir(REPO)  # submit from the repository root, as the batch scripts expect
    assert campaign_main(campaign("submit", tmp_path / "slurm")) == 0
    submitted, _ = read_record(tmp_path / "slurm")
    assert resolved_by_training(calls) == [task.run_dir for task in submitted.tasks()]

    out = tmp_path / "here"
    assert campaign_main(campaign("run", out)) == 0
    here, _ = read_record(out)
    names = [task.run_dir.name for task in here.tasks()]
    assert names == [task.run_dir.name for task in submitted.tasks()] == expected
    assert sorted(p.name for p in (out / "clip").iterdir()) == sorted(names)  # training wrote those, no other
    assert all((task.run_dir / "all_results.json").is_file() for task in here.tasks())
    report = (out / "report" / "REPORT.md").read_text()
    assert "2 tasks: 2 finished, 0 failed." in report
    assert all(f"| {task.label} | finished | test accuracy" in report for task in here.tasks()), report
    capsys.readouterr()
    assert campaign_main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [[task.label, "finished"] for task in here.tasks()]


@pytest.mark.slow
def test_ctrl_c_during_a_campaign_says_the_same_command_resumes(tmp_path, tmp_path_factory):
    """Ctrl-C (SIGINT) during `campaign run`: exit 130 and a line saying the same command skips the finished tasks
    and resumes the interrupted one from its newest checkpoint. A background job of a non-interactive shell starts
    with SIGINT ignored (FACTS.md): restore the default before exec."""
    from har_finetune.run_folder.checkpoints import latest_complete_checkpoint

    data, out = make_dataset(tmp_path / "data", per_class=6), tmp_path / "c"
    model = Model.parse(f"clip={tiny_checkpoint(tmp_path_factory)}")
    argv = ["run", "--models", f"clip={model.checkpoint}", "--seeds", "2", "--output_dir", str(out),
            "--dataset", str(data), "--max_steps", "100000", "--save_steps", "3", "--save_strategy", "steps",
            "--eval_strategy", "no", "--per_device_train_batch_size", "4", "--dataloader_num_workers", "0",
            "--disable_tqdm", "True"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "har_finetune.campaign", *argv], cwd=REPO, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    run_dir = out / model.name / "seed-1"
    deadline = time.monotonic() + 120
    while len(list(run_dir.glob("checkpoint-*/trainer_state.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]  # after a progress bar when Ctrl-C came while saving: search
    match = re.search(
        rf"interrupted; the same command resumes the campaign in {out}: finished tasks are skipped \(0 of 2\), "
        rf"{model.name}/seed-1 resumes from (checkpoint-\d+), its newest checkpoint$",
        last,
    )
    assert match, last
    assert Path(latest_complete_checkpoint(run_dir)).name == match.group(1)
