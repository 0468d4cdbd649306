"""Campaigns and two-node jobs on a real two-node Slurm cluster on this machine (root; Debian/Ubuntu).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_campaign_slurm.py -v    # ~5 min; installs slurm + munge

The cluster's node names (n1, n2) are not host names (tests/slurm_cluster.py), as on many real clusters: a job
must reach its first node by the node's address. `campaign submit` runs from the repository root as a user would;
the report is written by the dependent report job, not by the test.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from argv import training_argv
from slurm_cluster import FINAL_STATES, SlurmCluster, running_cluster
from test_campaign_commands import CAMPAIGN_FLAGS, FOREIGN, break_task, campaign_argv

from har_finetune.campaign import main as campaign_main
from har_finetune.data.synthetic import make_synthetic_har

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SBATCH_TEST_RESOURCES = ["--gres=none", "--cpus-per-task=1", "--mem=3G", "--time=15"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from running_cluster(tmp_path_factory, "slurm2", nodes=2)


@pytest.fixture(scope="module")
def har(tmp_path_factory) -> str:
    return str(make_synthetic_har(tmp_path_factory.mktemp("slurm-har") / "har", images_per_class=12))


def test_two_node_job_learns(cluster, har, tiny_checkpoints, tmp_path):
    (REPO / "logs").mkdir(exist_ok=True)
    out = tmp_path / "run"
    args = training_argv(har, tiny_checkpoints["clip"], out)
    job = cluster.sbatch(
        *SBATCH_TEST_RESOURCES, "--nodes=2", "fine_tune_har_clip.slurm", *args, *CAMPAIGN_FLAGS, "--num_train_epochs",
        "3", cwd=REPO,
    )  # fmt: skip
    log_path = REPO / "logs" / f"har-clip-{job}.out"
    info = cluster.wait(job, timeout=600)
    log = log_path.read_text() if log_path.exists() else ""
    assert info["JobState"] == "COMPLETED" and info["NodeList"] == "n[1-2]", f"{info}\n{log}"
    assert f"job {job} (restart 0): 2 node(s) x 1 process(es)" in log, log
    assert "rendezvous n1:" not in log  # the node name does not resolve; its address does
    results = json.loads((out / "all_results.json").read_text())
    assert results["test_accuracy"] > 0.3, results  # chance is 1/15
    assert json.loads((out / "run_config.json").read_text())["identity"]["world_size"] == 2
    log_path.unlink()


def wait_for(cluster: SlurmCluster, job: str, timeout: float) -> dict:
    info = cluster.wait(job, timeout)
    assert info["JobState"] in FINAL_STATES
    return info


def test_submit_runs_arrays_then_the_report_job_and_matches_campaign_run(cluster, har, tiny_checkpoints, tmp_path):
    out = tmp_path / "slurm"
    break_task(out)  # siglip/seed-2 fails
    sbatch = ["--sbatch", " ".join(SBATCH_TEST_RESOURCES)]
    submit = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", *campaign_argv("submit", har, tiny_checkpoints, out), *sbatch],
        cwd=REPO, env=cluster.env, capture_output=True, text=True,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    record = json.loads((out / "campaign.json").read_text())["slurm"]
    report_job = record["report"]
    assert f"report job {report_job}" in submit.stdout
    assert f"progress: python -m har_finetune.campaign status {out}" in submit.stdout
    dependency = cluster.job(report_job)["Dependency"]
    assert all(array in dependency for array in record["arrays"].values()) and "afterany" in dependency

    local = tmp_path / "local"  # the same campaign without Slurm, while the jobs run
    break_task(local)
    assert campaign_main(campaign_argv("run", har, tiny_checkpoints, local)) == 3

    info = wait_for(cluster, report_job, timeout=900)
    assert info["JobState"] == "COMPLETED", (out / "logs").iterdir()
    report = (out / "report" / "REPORT.md").read_text()
    assert "| CLIP (n=2) |" in report and "4 tasks: 3 finished, 1 failed." in report
    assert f"| siglip/seed-2 | failed | error: --output_dir {out / 'siglip' / 'seed-2'} {FOREIGN}" in report
    for model in ("CLIP", "SigLIP"):
        assert list((out / "report" / "SampleOutputs" / model).glob("*.png")), model

    status = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", "status", str(out)], env=cluster.env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["clip/seed-1", "finished"], ["clip/seed-2", "finished"], ["siglip/seed-1", "finished"],
        ["siglip/seed-2", "failed"],
    ], status.stdout  # fmt: skip
    assert FOREIGN in lines[3] and lines[4] == "4 tasks: 3 finished, 1 failed", status.stdout

    for label in ("clip/seed-1", "clip/seed-2", "siglip/seed-1"):
        assert (out / label / "split.csv").read_bytes() == (local / label / "split.csv").read_bytes(), label
        pd.testing.assert_frame_equal(
            pd.read_csv(out / label / "test_predictions.csv"), pd.read_csv(local / label / "test_predictions.csv")
        )


def test_status_while_queued_and_running(cluster, har, tiny_checkpoints, tmp_path):
    """One job holds both nodes: the campaign's tasks wait in the queue, then run; a requeued task says so."""
    out = tmp_path / "c"
    blocker = cluster.sbatch("--nodes=2", "--exclusive", "--wrap", "sleep 300", "-o", "/dev/null")
    argv = campaign_argv("submit", har, tiny_checkpoints, out)
    argv[argv.index("--models") + 1 : argv.index("--seeds")] = [f"clip={tiny_checkpoints['clip']}"]
    submit = subprocess.run(
        [sys.executable, "-m", "har_finetune.campaign", *argv, "--sbatch", shlex.join(SBATCH_TEST_RESOURCES)],
        cwd=REPO, env=cluster.env, capture_output=True, text=True,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr

    def status() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "har_finetune.campaign", "status", str(out)], env=cluster.env,
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert [line.split()[:2] for line in status()[:2]] == [["clip/seed-1", "queued"], ["clip/seed-2", "queued"]]
    cluster.run("scancel", blocker)
    deadline = time.monotonic() + 300
    while not re.match(r"clip/seed-1 +running +epoch [0-9.]+$", status()[0]):
        assert time.monotonic() < deadline, status()
        time.sleep(0.5)
    record = json.loads((out / "campaign.json").read_text())["slurm"]
    task = f"{record['arrays']['clip']}_1"
    cluster.run("scontrol", "requeue", task)  # as preemption does
    cluster.wait_state(task, {"PENDING"})
    assert "(requeued 1 time)" in status()[0], status()
    time.sleep(3)  # then start it now rather than after BeginTime (~2 min)
    cluster.run("scontrol", "update", f"JobId={task}", "StartTime=now")
    wait_for(cluster, record["report"], timeout=600)
    lines = status()
    assert all(line.split()[1] == "finished" for line in lines[:2]), lines
    assert lines[0].endswith("(requeued 1 time)"), lines
