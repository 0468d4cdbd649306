"""The one forking test driver: many command lines through the real entry points, the slow imports paid once.

Not a test file; `from forking import run_forked`. Each case runs in a forked child of one Python process that has
imported the training stack already, exactly as `python SCRIPT ARGV` / `python -m MODULE ARGV` would (runpy), with
its stdout and stderr in files. Reaching the input scan ends the child with `SCAN_REACHED` (exit code 99) and a
`<case>.scanned` marker: every check before the scan passed.
"""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCAN_REACHED = 99

DRIVER = """
import json, os, runpy, sys, traceback, warnings
import har_finetune.training.job, har_finetune.predict  # the slow imports, once

warnings.filterwarnings("ignore", "'har_finetune.predict' found in sys.modules")  # runpy: imported above, on purpose
from har_finetune.data import images

cases, out = json.loads(sys.argv[1]), sys.argv[2]
case_name = None

def tripwire(*args, **kwargs):  # the image scan: reaching it means every check before it passed
    open(f"{out}/{case_name}.scanned", "w").close()
    sys.stderr.flush()
    os._exit(EXIT_CODE)

images.scan_images = har_finetune.data.prepare.scan_source = tripwire
codes = {}
for case_name, case in cases.items():
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(f"{out}/{case_name}.stderr", os.O_WRONLY | os.O_CREAT), 2)
        os.dup2(os.open(f"{out}/{case_name}.stdout", os.O_WRONLY | os.O_CREAT), 1)
        os.environ.update(case.get("env", {}))
        try:
            sys.argv = [case["run"], *case["argv"]]
            if case["run"].endswith(".py"):
                runpy.run_path(case["run"], run_name="__main__")
            else:
                runpy.run_module(case["run"], run_name="__main__")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    codes[case_name] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(codes))
""".replace("EXIT_CODE", str(SCAN_REACHED))


def run_forked(cases: dict[str, dict], out: Path, env: dict[str, str], prefix: tuple[str, ...] = ()) -> dict:
    """Run each case ({"run": "fine_tune_har_clip.py" or a module name, "argv": [...], "env": {...}}) in a forked
    child; returns case -> {"code", "stderr", "stdout", "scanned"}. `prefix` wraps the driver (e.g. `taskset`)."""
    cases = {name: {"env": {}, **case} for name, case in cases.items()}
    driver = subprocess.run(
        [*prefix, sys.executable, "-c", DRIVER, json.dumps(cases), str(out)],
        cwd=REPO, text=True, capture_output=True, env=env, timeout=600,
    )  # fmt: skip
    assert driver.returncode == 0, driver.stderr[-3000:]
    codes = json.loads(driver.stdout.strip().splitlines()[-1])
    return {
        name: {
            "code": code,
            "stderr": (out / f"{name}.stderr").read_text(),
            "stdout": (out / f"{name}.stdout").read_text(),
            "scanned": (out / f"{name}.scanned").exists(),
        }
        for name, code in codes.items()
    }
