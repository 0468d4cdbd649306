"""The real training job with phase timers, in a child process whose memory is sampled from outside.

    python benchmarks/timed_train.py TIMINGS.json clip -- --dataset DIR --model_name_or_path CKPT ...

The child runs `har_finetune.training.job.main` (what fine_tune_har_clip.py / fine_tune_har_siglip.py run) unchanged,
with timers wrapped around its phases, and writes TIMINGS.json: seconds of start-up (imports), scan (list the
files, decode-check, hash, de-duplicate, split: `data.prepare.scan_and_split`), cache build (pixel store and evaluation
caches: `data.prepare.build_datasets`), evaluations (every validation pass and the test predictions), the whole `main`,
the process's peak resident set (`VmHWM`) and, on a GPU, peak GPU memory. `timed_run` starts it and samples the
child's /proc/<pid>/status meanwhile, to split its resident set into heap (`RssAnon`) and file-backed pages
(`RssFile`: the shared libraries, measured after the imports, plus the mapped pixel store and evaluation caches:
clean page-cache pages that `--mem` limits still count).
Loader worker processes are not included: the figures are the training process's.
"""

import time

START = time.perf_counter()

import functools  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("start-up", "scan", "cache build", "evaluations", "test predictions", "main")


def _status_kb(pid: int | str) -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon, RssFile, ... of /proc/<pid>/status, in KiB ({} once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = (line.split() for line in text.splitlines() if line.endswith(" kB"))
    return {parts[0].rstrip(":"): int(parts[1]) for parts in fields}


def timed_run(family: str, argv: list[str], work: Path, name: str, timeout: float) -> dict:
    """Run `train.main(argv, family)` in a child; its timings plus the sampled peaks (GB) and the wall time.

    Raises subprocess.TimeoutExpired (child killed) past `timeout` seconds, CalledProcessError when it fails."""
    timings, log = work / f"{name}.timings.json", work / f"{name}.log"
    peaks = {"RssAnon": 0, "RssFile": 0}
    command = [sys.executable, __file__, str(timings), family, "--", *argv]
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                status = _status_kb(child.pid)
                for key in peaks:
                    peaks[key] = max(peaks[key], status.get(key, 0))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
        finally:
            done.set()
            sampler.join()
    if code != 0:
        raise subprocess.CalledProcessError(code, command, output=log.read_text()[-3000:])
    result = json.loads(timings.read_text())
    result.update(wall=time.perf_counter() - start, heap_gb=peaks["RssAnon"] / 2**20, file_gb=peaks["RssFile"] / 2**20)
    return result


def _timed(seconds: dict, phase: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - start

    return wrapper


def child_main(timings: Path, family: str, argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    import torch
    from transformers import Trainer

    from har_finetune.training import job as train

    seconds = {"start-up": time.perf_counter() - START}
    libraries_gb = _status_kb("self").get("RssFile", 0) / 2**20  # mapped shared libraries (torch's are ~0.5 GB)
    train.scan_and_split = _timed(seconds, "scan", train.scan_and_split)  # the names the job calls
    train.build_datasets = _timed(seconds, "cache build", train.build_datasets)
    Trainer.evaluate = _timed(seconds, "evaluations", Trainer.evaluate)  # validation, during training and after
    Trainer.predict = _timed(seconds, "test predictions", Trainer.predict)
    code = _timed(seconds, "main", train.main)(argv, family=family)
    seconds["evaluations"] = seconds.get("evaluations", 0.0) + seconds.get("test predictions", 0.0)
    result = {"seconds": seconds, "peak_rss_gb": _status_kb("self")["VmHWM"] / 2**20, "libraries_gb": libraries_gb}
    if torch.cuda.is_available():
        result["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2**30
    timings.write_text(json.dumps(result, indent=1))
    return code


if __name__ == "__main__":
    separator = sys.argv.index("--")
    raise SystemExit(child_main(Path(sys.argv[1]), sys.argv[2], sys.argv[separator + 1 :]))
