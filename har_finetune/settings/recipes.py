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
    text = file.read_text()
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
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of flag names to values (name: value, one per line)")
    return data


def recipe_line(path: str, key: str) -> str:
    """'file line N' for the line that sets `key` (or just the file)."""
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if re.match(rf"""\s*["']?{re.escape(key)}["']?\s*:""", line):
            return f"{path} line {number}"
    return path
