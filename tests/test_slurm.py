"""The real sbatch scripts on a real single-node Slurm cluster that the tests start (root; Debian/Ubuntu).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -m slurm -v      # ~3 min; installs slurm + munge with apt if needed

Each job trains a tiny random checkpoint on generated images on the CPU (`sbatch --gres=none` overrides the
script's GPU request; the node has none). Preemption is played the way the cluster does it: the time-limit warning
is `scancel --signal=USR1 --batch` (exactly what `#SBATCH --signal=B:USR1@300` sends) and preemption is
`scontrol requeue` (SIGTERM to every process, then a requeue by Slurm). A requeued job waits ~2 min
(`BeginTime`) before Slurm restarts it; the tests lift that wait with `scontrol update StartTime=now`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from argv import training_argv
from safetensors.torch import load_file
from slurm_cluster import FINAL_STATES, SlurmCluster, running_cluster

from har_finetune.data.synthetic import make_synthetic_har

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
# the node has no GPU and 2 CPUs; everything else comes from the scripts' headers
SBATCH_TEST_RESOURCES = ["--gres=none", "--cpus-per-task=1", "--mem=3G", "--time=15"]
# 12 images x 15 classes, ~140 of them for training: ~70 steps per epoch at batch size 2 (~1-2 s on one core)
TRAINING_FLAGS = ["--num_train_epochs", "3", "--per_device_train_batch_size", "2", "--logging_steps", "50"]
EPOCHS = 3
SAME_METRICS = [
    "epochs",
    "best_validation_accuracy",
    "eval_accuracy",
    "eval_loss",
    "eval_macro_f1",
    "test_accuracy",
    "test_loss",
    "test_macro_f1",
    "num_train_samples",
    "num_test_samples",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from running_cluster(tmp_path_factory, "slurm")


@pytest.fixture(scope="module")
def har(tmp_path_factory) -> str:
    return str(make_synthetic_har(tmp_path_factory.mktemp("slurm-har") / "har", images_per_class=12))


class Job:
    """One submission of fine_tune_har_<family>.slurm from the repository root, with its log at the default place."""

    def __init__(self, cluster: SlurmCluster, family: str, args: list[str]):
        (REPO / "logs").mkdir(exist_ok=True)  # Slurm does not create the folder of --output
        self.cluster, self.family = cluster, family
        self.id = cluster.sbatch(*SBATCH_TEST_RESOURCES, f"fine_tune_har_{family}.slurm", *args, cwd=REPO)
        self.log_path = REPO / "logs" / f"har-{family}-{self.id}.out"

    @property
    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log):
            assert time.monotonic() < deadline, f"no {pattern!r} in the log of job {self.id}:\n{self.log}"
            assert self.cluster.job(self.id).get("JobState") not in FINAL_STATES, self.log
            time.sleep(0.1)

    def release_requeued(self, timeout: float = 120) -> None:
        """After a requeue Slurm holds the job ~2 min (Reason=BeginTime): start it after a few seconds instead."""
        self.cluster.wait_state(self.id, {"PENDING"}, timeout)
        # restarting within the second the old instance was killed fails ("Job credential revoked")
        time.sleep(3)
        self.cluster.run("scontrol", "update", f"JobId={self.id}", "StartTime=now")

    def finish(self, timeout: float = 300) -> dict[str, str]:
        info = self.cluster.wait(self.id, timeout)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", f"{info}\n{self.log}"
        return info

    def remove_log(self) -> None:
        self.log_path.unlink(missing_ok=True)


def run_args(har: str, checkpoint: str, output_dir: Path) -> list[str]:
    return training_argv(har, checkpoint, output_dir, *TRAINING_FLAGS)


def assert_same_run(run: Path, reference: Path) -> None:
    """Same final step, evaluation history, metrics, predictions and weights (timings and train_loss differ)."""
    results, expected = (json.loads((d / "all_results.json").read_text()) for d in (run, reference))
    assert {k: results[k] for k in SAME_METRICS} == {k: expected[k] for k in SAME_METRICS}
    states = [json.loads((d / "trainer_state.json").read_text()) for d in (run, reference)]
    assert states[0]["global_step"] == states[1]["global_step"] == states[1]["max_steps"]
    evals = [
        [(e["step"], e["eval_loss"], e["eval_accuracy"]) for e in s["log_history"] if "eval_loss" in e] for s in states
    ]
    assert evals[0] == evals[1]
    pd.testing.assert_frame_equal(*(pd.read_csv(d / "test_predictions.csv") for d in (run, reference)))
    weights, expected_weights = (load_file(d / "model.safetensors") for d in (run, reference))
    assert weights.keys() == expected_weights.keys()
    assert all(torch.equal(weights[k], expected_weights[k]) for k in weights)


@pytest.fixture(scope="module")
def uninterrupted(cluster, har, tiny_checkpoints, tmp_path_factory) -> tuple[Path, Job]:
    """A CLIP run submitted and finished without interruption (the reference for the resume tests)."""
    output_dir = tmp_path_factory.mktemp("slurm-runs") / "clip-uninterrupted"
    job = Job(cluster, "clip", run_args(har, tiny_checkpoints["clip"], output_dir))
    yield output_dir, job
    job.remove_log()


def test_clip_and_siglip_jobs_train_and_write_the_run_folder(cluster, har, tiny_checkpoints, uninterrupted, tmp_path):
    siglip_dir = tmp_path / "siglip"
    siglip = Job(cluster, "siglip", run_args(har, tiny_checkpoints["siglip"], siglip_dir))  # runs beside the CLIP job
    clip_dir, clip = uninterrupted
    for job, run_dir, model_type in ((clip, clip_dir, "clip"), (siglip, siglip_dir, "siglip")):
        job.finish()
        results = json.loads((run_dir / "all_results.json").read_text())
        assert results["model_type"] == model_type and results["device"] == "cpu"
        assert results["test_accuracy"] > 0.3  # chance is 1/15
        for name in ("config.json", "model.safetensors", "trainer_state.json", "test_predictions.csv", "split.csv"):
            assert (run_dir / name).is_file(), name
        state = json.loads((run_dir / "trainer_state.json").read_text())
        assert state["global_step"] == state["max_steps"] > 0 and state["epoch"] == EPOCHS
        log = job.log
        assert f"job {job.id} (restart 0): 1 node(s) x 1 process(es), no GPU: CPU run" in log
        assert "test accuracy" in log and "training exited with 0" in log
    siglip.remove_log()


PREEMPTIONS = {  # how a cluster stops a running job
    "time-limit": ["scancel", "--signal=USR1", "--batch"],  # what `#SBATCH --signal=B:USR1@300` sends
    "preemption": ["scontrol", "requeue"],  # SIGTERM to every process of the job, then Slurm requeues it
}


def test_preempted_jobs_requeue_resume_and_match_the_uninterrupted_run(
    cluster, har, tiny_checkpoints, uninterrupted, tmp_path
):
    reference, reference_job = uninterrupted
    reference_job.finish()
    total_steps = json.loads((reference / "trainer_state.json").read_text())["max_steps"]
    # both kinds side by side, one CPU each
    jobs = {
        kind: Job(cluster, "clip", run_args(har, tiny_checkpoints["clip"], tmp_path / kind)) for kind in PREEMPTIONS
    }
    for kind, job in jobs.items():
        job.wait_for_log(r"'eval_loss'")  # the first epoch is done, two are left
        cluster.run(*PREEMPTIONS[kind], job.id)
    for job in jobs.values():
        job.release_requeued()
    for kind, job in jobs.items():
        info = job.finish()
        log = job.log
        assert info["Restarts"] == "1", f"{kind}: {log}"
        stop_step = int(re.search(r"saving checkpoint-(\d+) and stopping", log).group(1))
        assert total_steps // EPOCHS <= stop_step < total_steps, f"{kind}: {log}"
        assert "(restart 1)" in log and f"resuming from {tmp_path / kind / f'checkpoint-{stop_step}'}" in log, log
        if kind == "time-limit":
            assert "requeueing job" in log, log  # the batch script requeued itself
        assert_same_run(tmp_path / kind, reference)
        job.remove_log()


def test_finished_run_is_not_retrained(cluster, har, tiny_checkpoints, uninterrupted):
    run_dir, first = uninterrupted
    first.finish()
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    job = Job(cluster, "clip", run_args(har, tiny_checkpoints["clip"], run_dir))
    job.finish()
    assert "holds a finished run (all_results.json); not training again" in job.log
    assert f"job {job.id} (restart" not in job.log  # recognised by the batch script's check, before srun
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before
    job.remove_log()


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--epochs", "3"], "error: unknown flag --epochs; did you mean --num_train_epochs?"),
        (["--resume_from_checkpoint", "nowhere/checkpoint-9"], "error: --resume_from_checkpoint nowhere/checkpoint-9"),
        (["--save_only_model"], "error: --save_only_model checkpoints cannot be resumed"),
        ([], "error: --output_dir {run} holds files that are not a run of this tool"),  # a folder of someone else's
    ],
    ids=["typo", "resume-to-nowhere", "save-only-model", "foreign-output-dir"],
)
def test_refused_command_is_one_line_in_the_log_and_exit_code_2_before_srun(
    cluster, har, tiny_checkpoints, tmp_path, flags, error
):
    """Every check that needs no data runs in the batch script's check (check_args), so a command that would be
    refused after srun and torchrun started is refused before them: one log line, exit 2, nothing written."""
    run_dir = tmp_path / "run"
    if not flags:
        run_dir.mkdir()
        (run_dir / "thesis.tex").write_text("my thesis")
    job = Job(cluster, "clip", [*run_args(har, tiny_checkpoints["clip"], run_dir), *flags])
    info = cluster.wait(job.id, timeout=120)
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "2:0", f"{info}\n{job.log}"
    lines = job.log.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(error.format(run=run_dir)), job.log
    assert sorted(p.name for p in run_dir.iterdir()) == ["thesis.tex"] if not flags else not run_dir.exists()
    job.remove_log()


def test_cancelled_job_is_not_requeued(cluster, har, tiny_checkpoints, tmp_path):
    job = Job(cluster, "clip", run_args(har, tiny_checkpoints["clip"], tmp_path / "run"))
    job.wait_for_log(r"'loss'")
    cluster.run("scancel", job.id)
    cluster.wait(job.id, timeout=120)
    time.sleep(3)  # a requeue by the batch script would show by now
    info = cluster.job(job.id)
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", job.log
    job.remove_log()


class ArrayJob:
    """fine_tune_har_<family>.slurm submitted as a job array, one log per task (`-o logs/%x-%A_%a.out`)."""

    def __init__(self, cluster: SlurmCluster, family: str, indices: str, args: list[str]):
        (REPO / "logs").mkdir(exist_ok=True)
        self.cluster, self.family = cluster, family
        self.id = cluster.sbatch(
            *SBATCH_TEST_RESOURCES, f"--array={indices}", "-o", "logs/%x-%A_%a.out", f"fine_tune_har_{family}.slurm",
            *args, cwd=REPO,
        )  # fmt: skip
        self.indices = [int(i) for i in indices.split(",")]

    def task(self, index: int) -> Job:
        """A task as a `Job` (its id `<array>_<index>` works with scontrol and scancel), with its own log."""
        job = Job.__new__(Job)
        job.cluster, job.family, job.id = self.cluster, self.family, f"{self.id}_{index}"
        job.log_path = REPO / "logs" / f"har-{self.family}-{self.id}_{index}.out"
        return job


def test_seed_array_shares_one_split_resumes_a_requeued_task_and_reports_the_group(
    cluster, har, tiny_checkpoints, uninterrupted, tmp_path
):
    """`sbatch --array=1,2,42`: the index is the seed, the split is the same for all; task 42 (the uninterrupted
    reference's seed) gets the time-limit signal, requeues itself alone and ends exactly like the reference."""
    import plot_metrics

    campaign_dir = tmp_path / "seeds"
    array = ArrayJob(cluster, "clip", "1,2,42", run_args(har, tiny_checkpoints["clip"], campaign_dir))
    stopped = array.task(42)
    stopped.wait_for_log(r"'eval_loss'", timeout=600)  # the first epoch is done, two are left
    cluster.run("scancel", "--signal=USR1", "--batch", stopped.id)
    stopped.release_requeued()
    tasks = {index: array.task(index) for index in array.indices}
    for index, task in tasks.items():
        info = task.finish(timeout=600)
        assert info["Restarts"] == ("1" if index == 42 else "0"), f"task {index}: {task.log}"
        assert f"job {array.id}_{index} (restart 0)" in task.log
    assert f"requeueing job {array.id}_42 to resume" in stopped.log and "(restart 1)" in stopped.log
    splits = {(campaign_dir / f"seed-{i}" / "split.csv").read_bytes() for i in array.indices}
    assert len(splits) == 1, "the seeds were split differently"
    reference, reference_job = uninterrupted
    reference_job.finish()
    assert_same_run(campaign_dir / "seed-42", reference)

    report_dir = tmp_path / "report"
    assert plot_metrics.main([str(campaign_dir), "--out", str(report_dir)]) == 0
    text = (report_dir / "REPORT.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| CLIP (n=3) |"))
    accuracies = [
        100 * json.loads((campaign_dir / f"seed-{i}" / "all_results.json").read_text())["test_accuracy"]
        for i in array.indices
    ]
    mean, std = sum(accuracies) / 3, pd.Series(accuracies).std()
    assert row.startswith(f"| CLIP (n=3) | 3 | {mean:.2f} ± {std:.2f}% |"), row
    for task in tasks.values():
        task.remove_log()
