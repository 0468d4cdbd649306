"""Reading test_probabilities.csv (docs/run_folder.md): each test image's softmax probability of every class.

Read by position, not by header name: the first column is the image id and the others are the classes in label-id
order, so a class that happens to be called `id` (or two names pandas would de-duplicate) still reads right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from har_finetune.run_folder.files import PROBABILITIES


@dataclass(frozen=True)
class TestProbabilities:
    """`values[i, k]`: the probability the run gave class `classes[k]` for test image `ids[i]`."""

    __test__ = False  # not a pytest test class, despite its name

    ids: tuple[str, ...]
    classes: tuple[str, ...]
    values: np.ndarray


def read_probabilities(run_dir: Path) -> TestProbabilities | None:
    """The run's test probabilities, or None for a run folder without the file (written before issue 28, or not
    finished). A file that is there but malformed raises `ValueError` naming it (`RunRecord.probabilities` turns it
    into the reader's `RunFolderError`)."""
    path = Path(run_dir) / PROBABILITIES
    if not path.is_file():
        return None
    try:
        rows = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
        header, body = rows.iloc[0].tolist(), rows.iloc[1:]
        values = body.iloc[:, 1:].to_numpy(dtype=np.float64)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, IndexError) as e:
        raise ValueError(f"{path} is empty or not a table of probabilities ({e}); rerun the run's test") from e
    if len(header) < 3 or header[0] != "id":
        raise ValueError(f"{path} should start with an `id` column followed by one column per class")
    return TestProbabilities(tuple(body.iloc[:, 0]), tuple(header[1:]), values)
