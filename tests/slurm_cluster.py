"""A throw-away Slurm cluster on this machine, one node or two, for the tests (needs root, Debian/Ubuntu).

    python -m tests.slurm_cluster        # smoke check: start, run `sbatch --wrap hostname`, stop (~5 s)

`SlurmCluster.start()` installs `slurmctld slurmd slurm-client munge` with apt when `sbatch` is missing, writes a
munge key and a minimal `slurm.conf` (this machine as the only node, as `slurmd -C` describes it;
proctrack/linuxproc, task/none, no accounting) into its own folder, and starts `munged`, `slurmctld` and `slurmd`
in the foreground on free ports. Nothing under /etc is touched and a system munged/slurm keeps running. `stop()`
cancels the jobs still queued and ends exactly the daemons it started.

`SlurmCluster(nodes=2)` runs two nodes on this machine, as a multi-node cluster whose node names are not host names:
`NodeName=n1 NodeHostname=<this host> Port=<free port>` (and n2), one `slurmd -N nX` each with its own spool, pid and
log file; `n1`/`n2` do not resolve, `scontrol show node n1` gives NodeAddr=<this host>, which does.
Only one test cluster runs on the machine at a time: `start()` waits for a lock (`LOCK_FILE`) that `stop()` releases,
so two test sessions (several worktrees) queue instead of sharing the CPUs and the node names.
Client commands find the cluster through `SLURM_CONF`: use `cluster.env` for subprocesses.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LOCK_FILE = "/tmp/har_finetune-test-slurm-cluster.lock"
APT_PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}

SLURM_CONF = """\
ClusterName=testcluster
# job ids unlikely to repeat those of an earlier test cluster (logs/%x-%j.out is appended to, not replaced)
FirstJobId={first_job_id}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool{node_suffix}
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd{node_suffix}.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd{node_suffix}.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# finished jobs stay visible to `scontrol show job` (there is no accounting database for sacct)
MinJobAge=3600
# seconds between SIGTERM and SIGKILL when a job is cancelled, requeued or preempted
KillWait=30
{node_lines}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def ensure_installed() -> None:
    """Install the Slurm and munge Debian packages when `sbatch` or a daemon is missing."""
    if all(shutil.which(tool) for tool in ("sbatch", "slurmctld", "slurmd", "munged")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """One node (this machine) or two (`nodes=2`, both on this machine), one partition `debug`, jobs run as root."""

    def __init__(self, root: str | Path | None = None, nodes: int = 1):
        self.nodes = [f"n{i}" for i in range(1, nodes + 1)] if nodes > 1 else []  # [] : the host is the node
        # munged's socket path must stay short (108 bytes), hence a folder directly under /tmp by default;
        # that one is removed by stop(), a given `root` is left for inspection
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="slurm-"))
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.daemons: dict[str, subprocess.Popen] = {}
        self._lock = None

    # --- life cycle -------------------------------------------------------------------------------------------
    def start(self, timeout: float = 60, lock_timeout: float = 3600) -> SlurmCluster:
        ensure_installed()
        self._acquire_lock(lock_timeout)
        for sub in ("munge", "state", *([f"spool-{n}" for n in self.nodes] or ["spool"])):
            (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._write_munge_key()
        self._write_conf()
        munge = self.root / "munge"
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={munge}/munge.socket",
                f"--key-file={munge}/munge.key",
                f"--pid-file={munge}/munged.pid",
                f"--log-file={munge}/munged.log",
                f"--seed-file={munge}/munged.seed",
            ],
        )
        self._wait_for(lambda: (munge / "munge.socket").exists(), timeout, "munged socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        for node in self.nodes:
            self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node, "-f", str(self.conf)])
        if not self.nodes:
            self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait_for(self._node_is_up, timeout, "node to become idle")
        return self

    def stop(self) -> None:
        """Cancel the remaining jobs, then end the daemons this object started (and only those)."""
        if "slurmctld" in self.daemons and self.daemons["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user=root"], env=self.env, capture_output=True)
            try:
                self._wait_for(lambda: not self.squeue(), 60, "queue to drain")
            except TimeoutError:
                pass
        slurmds = [name for name in self.daemons if name.startswith("slurmd")]
        for name in (*slurmds, "slurmctld", "munged"):
            proc = self.daemons.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- client helpers ---------------------------------------------------------------------------------------
    def run(self, *cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(cmd), env=kwargs.pop("env", self.env), capture_output=True, text=True, check=check, **kwargs
        )

    def sbatch(self, *args: str, cwd: str | Path | None = None, env: dict | None = None) -> str:
        """Submit; returns the job id. `env` (default `self.env`) is the environment the job inherits."""
        out = self.run("sbatch", "--parsable", *args, cwd=cwd, env=env or self.env).stdout
        return out.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict, e.g. {"JobState": "COMPLETED", "ExitCode": "0:0", "Restarts": "1"}."""
        out = self.run("scontrol", "show", "job", "--oneliner", job_id).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def squeue(self) -> list[str]:
        return self.run("squeue", "--noheader", "--format=%i").stdout.split()

    def wait(self, job_id: str, timeout: float = 300) -> dict[str, str]:
        """Wait until the job reaches a final state (not requeued); returns `job()`."""
        return self.wait_state(job_id, FINAL_STATES, timeout)

    def wait_state(self, job_id: str, states: set[str], timeout: float = 120) -> dict[str, str]:
        info: dict[str, str] = {}

        def reached() -> bool:
            nonlocal info
            info = self.job(job_id)
            return info.get("JobState") in states

        self._wait_for(reached, timeout, lambda: f"job {job_id} to reach {states} (last seen {info.get('JobState')})")
        return info

    def logs(self) -> str:
        """The daemons' logs, for failure messages."""
        parts = []
        slurmd_logs = [self.root / f"slurmd-{n}.log" for n in self.nodes] or [self.root / "slurmd.log"]
        for path in (self.root / "slurmctld.log", *slurmd_logs, self.root / "munge" / "munged.log"):
            if path.exists():
                parts.append(f"==> {path} <==\n" + "\n".join(path.read_text().splitlines()[-40:]))
        return "\n".join(parts)

    # --- internals --------------------------------------------------------------------------------------------
    def _write_munge_key(self) -> None:
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        key.chmod(0o400)

    def _write_conf(self) -> None:
        # `slurmd -C` prints this machine's node line (CPUs, sockets, cores, memory) as slurmd will detect it
        node_line = next(line for line in self.run("slurmd", "-C").stdout.splitlines() if line.startswith("NodeName="))
        host = node_line.split()[0].split("=", 1)[1]
        resources = node_line.split(maxsplit=1)[1]
        if self.nodes:  # names that are not host names; each slurmd on its own port
            node_lines = "\n".join(
                f"NodeName={n} NodeHostname={host} Port={free_port()} {resources} State=UNKNOWN" for n in self.nodes
            )
        else:
            node_lines = f"{node_line} NodeAddr=127.0.0.1 State=UNKNOWN"
        self.conf.write_text(
            SLURM_CONF.format(
                host=host,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                munge_socket=self.root / "munge" / "munge.socket",
                root=self.root,
                node_lines=node_lines,
                node_suffix="-%n" if self.nodes else "",
                first_job_id=random.randrange(1_000_000, 60_000_000, 1000),
            )
        )

    def _acquire_lock(self, timeout: float) -> None:
        self._lock = open(LOCK_FILE, "a")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another test Slurm cluster holds {LOCK_FILE}") from None
                time.sleep(2)

    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.root / f"{name}.stdout", "ab")
        # a new session: Ctrl-C in the terminal or signals sent to the tests never reach the daemons
        self.daemons[name] = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        out.close()

    def _node_is_up(self) -> bool:
        for name, proc in self.daemons.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.logs()}")
        out = self.run("sinfo", "--noheader", "--format=%t", check=False).stdout.split()
        return bool(out) and all(state in ("idle", "mix", "alloc") for state in out)

    def _wait_for(self, predicate, timeout: float, what) -> None:
        """`what`: a description, or a callable giving one when the wait times out (so it can say what it saw)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what() if callable(what) else what}\n{self.logs()}")
            time.sleep(0.5)


if __name__ == "__main__":
    with SlurmCluster() as cluster:
        out_file = cluster.root / "hostname.out"
        job_id = cluster.sbatch("--wrap", "hostname", f"--output={out_file}")
        info = cluster.wait(job_id, timeout=60)
        print(f"job {job_id}: {info['JobState']} {info['ExitCode']}: {out_file.read_text().strip()}")


def running_cluster(tmp_path_factory, name: str, nodes: int = 1):
    """A pytest fixture's body: skip without root or a way to install Slurm, else a started cluster whose jobs
    run one thread each with a private Hugging Face cache, stopped afterwards (`yield from running_cluster(...)`)."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("starting munged/slurmctld/slurmd needs root")
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        pytest.skip("Slurm is not installed and there is no apt-get to install it")
    cluster = SlurmCluster(tmp_path_factory.mktemp(name), nodes=nodes)  # pytest keeps the daemons' logs
    # what the jobs inherit (sbatch --export=ALL): one thread each, a private Hugging Face cache
    cluster.env.update(OMP_NUM_THREADS="1", HF_HOME=str(tmp_path_factory.mktemp("hf_home")))
    try:
        yield cluster.start()
    finally:
        cluster.stop()
