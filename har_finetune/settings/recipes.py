"""Recipe files: a JSON/YAML mapping of flag names to values that stands in for the command line.

    python fine_tune_har_clip.py recipes/clip.yaml --num_train_epochs 3   # flags after the file override it

A syntax error or a wrong shape is one line naming the file and the line.
"""

import json
import re
from pathlib import Path

import yaml

from har_finetune.core.errors import UserError

RECIPE_SUFFIXES = (".json", ".yaml", ".yml")


def read_recipe(path: str) -> dict:
    """A JSON/YAML recipe as a dict; a syntax error or a wrong shape is one line naming the file and line."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"recipe file {path} does not exist")
    text = read_text(file, "recipe file")
    try:
        data = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    except yaml.YAMLError as error:
        marks = (getattr(error, "context_mark", None), getattr(error, "problem_mark", None))
        lines = sorted({mark.line + 1 for mark in marks if mark})
        where = f" line{'s' if len(lines) > 1 else ''} {'-'.join(map(str, lines))}" if lines else ""
        problem = getattr(error, "problem", None) or error
        raise UserError(f"{path}{where}: YAML syntax error ({problem}); fix the file") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path} line {error.lineno}: JSON syntax error ({error.msg}); fix the file") from None
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        raise UserError(
            f"{path} is a sweep file (a list of variants), not a recipe: run it as a campaign with --sweep {path} "
            f"(python -m har_finetune.campaign --sweep {path} lists its tasks)"
        )
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of flag names to values (name: value, one per line)")
    return data


def read_text(file: Path, what: str) -> str:
    """A recipe or sweep file's text; bytes that are not UTF-8 are one line naming the file and where."""
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(
            f"{what} {file} line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save it as UTF-8"
        ) from None


def sweep_given_as_recipe(path: str, recipe: dict, multi_value: set[str]) -> None:
    """A recipe maps flags to single values; a list for a single-value flag means a sweep file was given."""
    listed = [
        key
        for key, value in recipe.items()
        if isinstance(value, list) and (key not in multi_value or any(isinstance(item, list) for item in value))
    ]  # a list setting swept is a list of lists (`wise_ft_alpha: [[0.5, 1.0], [1.0]]`)
    if listed:
        raise UserError(
            f"{path} is a sweep file ({listed[0]}: a list of values), not a recipe: run it as a campaign with "
            f"--sweep {path} (python -m har_finetune.campaign --sweep {path} lists its tasks), or give "
            f"{listed[0]} one value"
        )


def recipe_line(path: str, key: str) -> str:
    """'file line N' for the line that sets `key` (or just the file)."""
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if re.match(rf"""\s*["']?{re.escape(key)}["']?\s*:""", line):
            return f"{path} line {number}"
    return path
