"""The package's shape: no import cycle (function-level imports included), every third-party import declared, and
`pip install .` giving console scripts that run from any folder.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_architecture.py     # ~1 min (the install test)
"""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "har_finetune"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_names(path: Path) -> list[str]:
    """Every module an import statement of the file names, at any depth (inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = {target for target in imported_names(path) if target in known and target != name}
        # `from pkg import submodule` names the submodule; `from pkg.module import name` only the module
        graph[name] = {t for t in targets if not any(o != t and o.startswith(t + ".") for o in targets)} | {
            t for t in targets if known[t].name != "__init__.py"
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 40 and graph["har_finetune.training.job"]  # the graph was really read
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


# docs/architecture.md: the parts each part may import (side commands and the package itself may import any)
ALLOWED = {
    "core": set(),
    "run_folder": {"core"},
    "settings": {"core", "run_folder"},
    "data": {"core", "run_folder", "settings"},
    "models": {"core", "run_folder"},
    "reporting": {"core", "run_folder", "data", "models"},
    "training": {"core", "run_folder", "settings", "data", "models", "reporting"},
}


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else "har_finetune"


def test_each_part_imports_only_the_parts_below_it():
    wrong = [
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if part(source) in ALLOWED and part(target) != part(source) and part(target) not in ALLOWED[part(source)]
    ]
    assert wrong == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph()
    graph["har_finetune.core.errors"] = {"har_finetune.training.job"}  # core importing the job: a cycle
    assert find_cycle(graph) is not None


def declared(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_third_party_import_is_declared_in_pyproject_and_requirements():
    distributions = importlib.metadata.packages_distributions()
    stdlib = sys.stdlib_module_names
    tops = {n.split(".")[0] for path in PACKAGE.rglob("*.py") for n in imported_names(path)}
    third_party = sorted(t for t in tops if t not in stdlib and t != "har_finetune")
    assert "torch" in third_party and "scipy" in third_party
    needed = {declared(distributions[top][0]) for top in third_party}
    in_pyproject = {declared(r) for r in PYPROJECT["project"]["dependencies"]}
    pins = (REPO / "requirements.txt").read_text().splitlines()
    in_requirements = {declared(line) for line in pins if line.strip() and not line.startswith(("#", "-"))}
    assert needed - in_pyproject == set()
    assert needed - in_requirements == set()


@pytest.mark.slow
def test_pip_install_gives_console_scripts_that_run_from_any_folder(tmp_path):
    """A fresh virtual environment, `pip install .` (the dependencies come from this venv, nothing downloads), then
    every console script's --help from another folder, with the installed copy imported, not the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # this venv's packages, no download
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]  # this venv's pip, that venv
    install = [*pip, "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    source = tmp_path / "source"  # a copy: pip builds in the source folder (build/, *.egg-info)
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "outputs", "logs", "build", "*.egg-info"))
    subprocess.run([*install, str(source)], check=True, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import har_finetune; print(har_finetune.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(site) in where.stdout, where.stdout  # the installed package, not the checkout
    html = subprocess.run(  # the HTML report's templates and assets are package data: installed, and they load
        [str(venv / "bin" / "python"), "-c", "from har_finetune.reporting.html.pages import environment, ASSETS; "
         "from importlib.resources import files; env = environment(); "
         "[env.get_template(t) for t in ('index.html.j2', 'cell.html.j2', 'class.html.j2')]; "
         "[files('har_finetune.reporting.html').joinpath('assets', a).read_text() for a in ASSETS]; print('ok')"],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert html.stdout.strip() == "ok", html.stderr[-2000:]
    scripts = {  # all at once: most of the time is imports
        script: subprocess.Popen(
            [str(venv / "bin" / script), "--help"],
            cwd=elsewhere,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for script in PYPROJECT["project"]["scripts"]
    }
    for script, process in scripts.items():
        out, err = (stream.decode() for stream in process.communicate(timeout=300))
        assert process.returncode == 0, (script, err[-2000:])
        assert "usage:" in out or "--output_dir" in out, (script, out[:500])  # the training help starts with its use
