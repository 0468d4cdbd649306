"""`python -m har_finetune.campaign submit|run|status|report`: a campaign from one command to the report.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_campaign_commands.py      # ~1 min (one tiny campaign)
(The same campaign under Slurm, and the two agree: tests/test_campaign_slurm.py.)
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from har_finetune.campaign import main as campaign_main
from har_finetune.campaigns.plan import Model
from har_finetune.core.errors import UserError

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
        (["--seed", "3"], "--seed is set by the campaign"),
        (["--output_dir", "x", "--models", "clip", "clip"], "two models share a folder name"),
        (["--output_dir", "x", "--models", "clip", "--epochs", "3"], "unknown flag --epochs"),
    ],
)
def test_bad_campaigns_are_one_line_before_anything_runs(tmp_path, extra, message, capsys):
    argv = ["run", "--models", "clip", "--output_dir", str(tmp_path / "c"), *extra]
    with pytest.raises(UserError, match=message):
        campaign_main(argv)
    assert not (tmp_path / "c").exists()


def test_status_of_a_folder_without_campaign_says_so_and_exits_0(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", "status", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "no campaign here" in done.stdout


def test_sweep_listing_still_works(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("seed: [1, 2]\n")
    assert campaign_main(["--sweep", str(sweep)]) == 0


@pytest.mark.slow
def test_run_trains_every_task_reports_and_lists_the_failed_one(learnable_har, tiny_checkpoints, tmp_path, capsys):
    out = tmp_path / "har"
    break_task(out)
    assert campaign_main(campaign_argv("run", learnable_har, tiny_checkpoints, out)) == 3  # a task failed
    for label in ("clip/seed-1", "clip/seed-2", "siglip/seed-1"):
        assert json.loads((out / label / "all_results.json").read_text())["test_accuracy"] > 0.3, label
    report = (out / "report" / "REPORT.md").read_text()
    assert report.startswith("# CLIP (n=2) vs SigLIP") and "| CLIP (n=2) |" in report  # groups of what finished
    assert f"| siglip/seed-2 | failed | error: --output_dir {out / 'siglip' / 'seed-2'} {FOREIGN}" in report
    assert "4 tasks: 3 finished, 1 failed." in report
    for model in ("CLIP", "SigLIP"):
        assert list((out / "report" / "SampleOutputs" / model).glob("*.png")), model
        assert f"[SampleOutputs/{model}/]" in report
    capsys.readouterr()
    assert campaign_main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("clip/seed-1    finished    test accuracy")
    assert lines[3].startswith("siglip/seed-2  failed      error: --output_dir") and FOREIGN in lines[3]
    assert lines[4] == "4 tasks: 3 finished, 1 failed"
