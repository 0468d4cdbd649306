"""The package's shape: no import cycle (function-level imports included), every third-party import declared, the run
folder's file names and writes kept in run_folder/, and `pip install .` giving console scripts that run from any folder.

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

from har_finetune.run_folder import files

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


# run_folder/files.py: the constant of each file and folder name of a run folder (and a report's REPORT.md)
RUN_FOLDER_NAMES = {name: value for name, value in vars(files).items() if name.isupper() and isinstance(value, str)}
# Calls that write a file; one whose path names a run-folder file (or `run_dir`) writes into a run folder.
WRITING_CALLS = {"write_text", "write_bytes", "write_json", "write_csv", "save_figure", "savefig", "to_csv", "to_json",
                 "save_to_json", "save_pretrained", "save_model", "open", "dump", "copy", "copy2", "copyfile",
                 "copytree", "move", "touch", "mkdir", "symlink_to", "hardlink_to"}  # fmt: skip
REPORT_FOLDER_NAMES = {"REPORT"}  # written by the report into its own folder, never into a run folder


def outside_run_folder() -> dict[str, str]:
    """path -> source of every module that is not run_folder/'s: the package's and the top-level scripts."""
    paths = [p for p in PACKAGE.rglob("*.py") if "run_folder" not in p.relative_to(PACKAGE).parts]
    return {str(path.relative_to(REPO)): path.read_text() for path in paths + sorted(REPO.glob("*.py"))}


def spelled_names(source: str) -> list[str]:
    """Run-folder file names written as string literals (f-string parts included): 'line: name'."""
    names = set(RUN_FOLDER_NAMES.values())
    return [
        f"{node.lineno}: {node.value}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip("/") in names
    ]


def writes_into_run_folders(source: str) -> list[str]:
    """Writing calls whose path (or object) names a run-folder file or a run_dir: 'line: call(names)'."""
    constants = set(RUN_FOLDER_NAMES) - REPORT_FOLDER_NAMES
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name not in WRITING_CALLS:
            continue
        parts = [*node.args, *(k.value for k in node.keywords)]
        parts += [node.func.value] if isinstance(node.func, ast.Attribute) else []
        named = {
            n.id if isinstance(n, ast.Name) else n.attr
            for part in parts
            for n in ast.walk(part)
            if isinstance(n, (ast.Name, ast.Attribute))
            and (n.id if isinstance(n, ast.Name) else n.attr) in constants | {"run_dir"}
        }
        found += [f"{node.lineno}: {name}({', '.join(sorted(named))})"] if named else []
    return found


def test_only_run_folder_spells_its_file_names_and_writes_into_it():
    assert {"RESULTS", "PREDICTIONS", "REPORT", "MODEL_CARD", "F1_FIGURE"} <= set(RUN_FOLDER_NAMES)  # really read
    modules = outside_run_folder()
    assert "har_finetune/training/records.py" in modules and "plot_metrics.py" in modules
    spelled = {path: found for path, source in modules.items() if (found := spelled_names(source))}
    assert spelled == {}, "import the name from har_finetune/run_folder/files.py"
    writes = {path: found for path, source in modules.items() if (found := writes_into_run_folders(source))}
    assert writes == {}, "write through har_finetune/run_folder/writer.py"


def test_the_run_folder_checks_find_planted_names_and_writes():
    planted = """
from har_finetune.run_folder.files import PREDICTIONS, REPORT, write_csv, write_text
write_csv(run_dir / PREDICTIONS, table)
(record.run_dir / "notes.txt").write_text("x")
write_text(out_dir / REPORT, text)
path = f"{plan.report_dir}/REPORT.md"
"""
    assert writes_into_run_folders(planted) == ["3: write_csv(PREDICTIONS, run_dir)", "4: write_text(run_dir)"]
    assert spelled_names(planted) == ["6: /REPORT.md"]


def indexed_modules(index: str) -> set[str]:
    """The modules named in the first cell of tests/README.md's rows: `part/module.py`, then its neighbours in the
    same part by file name (`data/cache.py`, `pixel_files.py`), or a top-level module (`demo.py`)."""
    modules = set()
    for line in index.splitlines():
        if line.startswith("| `"):
            part = ""
            for name in re.findall(r"`([\w/]+\.py)`", line.split(" | ")[0]):
                part = name.rpartition("/")[0] or part
                modules.add(name if "/" in name or not part else f"{part}/{name}")
    return modules


def test_every_module_is_in_the_tests_index():
    """tests/README.md maps each module to its tests: a module without a row is one a newcomer cannot place."""
    indexed = indexed_modules((REPO / "tests" / "README.md").read_text())
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    assert "run_folder/writer.py" in indexed and "pixel_files.py" not in indexed  # the index was really read
    assert modules - indexed == set(), "add a row (or a name to a row) in tests/README.md"
    assert indexed - modules == set(), "tests/README.md names modules that are gone"


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
