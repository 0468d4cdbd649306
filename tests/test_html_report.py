"""The HTML report (report/index.html and its pages): confusion cells open exactly their test images, the folder
stands alone, user names are text and never markup, suspect labels find mislabelled images, older run folders
still render. The browser tests of the same page (headless Chromium) are in tests/test_html_browser.py.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_html_report.py -q
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from run_folders import CLASSES, default_predictions, make_images, make_run, write_json

import plot_metrics
from har_finetune.core.metrics import probabilities_table
from har_finetune.reporting.html.inline import inline
from har_finetune.run_folder.reader import RunRecord

EVIL_CLASS = "<img src=x onerror=alert(1)>"
EVIL_QUOTE = '"><script>alert(2)</script>'


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attributes), and the page's text."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def having(self, attribute: str, value: str | None = None) -> list[dict[str, str]]:
        return [a for _, a in self.tags if attribute in a and (value is None or a[attribute] == value)]


def report_of(root: Path, runs: list[Path]) -> Path:
    out = root / "report"
    assert plot_metrics.main([*map(str, runs), "--out", str(out)]) == 0
    return out


def with_probabilities(run_dir: Path, probabilities: np.ndarray, classes: list[str] = CLASSES) -> None:
    ids = list(pd.read_csv(run_dir / "test_predictions.csv", keep_default_na=False)["id"])
    table = probabilities_table(ids, np.log(np.clip(probabilities, 1e-9, None)), classes)
    table.to_csv(run_dir / "test_probabilities.csv", index=False)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """CLIP and SigLIP on the same 60 generated test images (run folders without test_probabilities.csv: from
    before issue 28), reported into report/."""
    root = tmp_path_factory.mktemp("html")
    data = make_images(root / "data", list(default_predictions()["id"]))
    clip = make_run(root / "clip", "clip", dataset_root=data)
    siglip = make_run(root / "siglip", "siglip", predictions=default_predictions(shift=1), dataset_root=data)
    return root, [clip, siglip], report_of(root, [clip, siglip])


def test_every_confusion_cell_opens_exactly_its_test_images(two_runs):
    root, runs, out = two_runs
    index = Elements(out / "index.html")
    cells = index.having("data-count")
    assert len(cells) == 2 * 15 * 15  # every cell of both matrices, empty ones with data-count 0
    for run_dir, name in zip(runs, ("CLIP", "SigLIP")):
        predictions = RunRecord(run_dir).predictions
        mine = [c for c in cells if c["data-run"] == name]
        assert sum(int(c["data-count"]) for c in mine) == len(predictions)
        pages = [a["href"] for tag, a in index.tags if tag == "a" and a.get("href", "").startswith("cells/r")]
        assert len(set(pages)) == sum(int(c["data-count"]) > 0 for c in cells)
        for cell in (c for c in mine if int(c["data-count"]) > 0):
            expected = predictions[
                (predictions["label"] == cell["data-true"]) & (predictions["prediction"] == cell["data-pred"])
            ]["id"]
            page = out / _link_after(index, cell)
            view = Elements(page)
            (section,) = view.having("data-view", "cell")
            assert {k: section[k] for k in ("data-run", "data-true", "data-pred")} == {
                k: cell[k] for k in ("data-run", "data-true", "data-pred")
            }
            assert sorted(a["data-id"] for a in view.having("data-id")) == sorted(expected)
            assert int(cell["data-count"]) == len(expected)


def _link_after(index: Elements, cell: dict[str, str]) -> str:
    """The href of the link inside the confusion cell `cell` (the next tag after it)."""
    position = next(k for k, (_, a) in enumerate(index.tags) if a is cell)
    tag, attributes = index.tags[position + 1]
    assert tag == "a", (tag, attributes)
    return attributes["href"]


def test_captions_say_true_then_pred(two_runs):
    """A wrong image's caption names its true label after "true:" and the prediction after "pred:"."""
    _, runs, out = two_runs
    page = Elements(out / "cells" / "r1-t0-p1.html")  # CLIP: true calling, predicted clapping
    text = " ".join(page.text)
    assert "true: calling" in text and "pred: clapping" in text and "true: clapping" not in text


def test_a_run_folder_from_before_the_probabilities_file_still_renders(two_runs):
    _, runs, out = two_runs
    assert not any((r / "test_probabilities.csv").exists() for r in runs)
    index = Elements(out / "index.html")
    text = " ".join(index.text)
    assert "No run folder here has test_probabilities.csv" in text
    assert index.having("data-count") and (out / "classes" / "c0.html").is_file()
    assert not index.having("data-view", "suspects")


def test_the_report_folder_stands_alone(two_runs, tmp_path):
    """Moved away, with the run folders and the dataset gone, every local link and image of every page resolves."""
    root, runs, out = two_runs
    copy = tmp_path / "a copy with spaces, ünïcode"
    shutil.copytree(out, copy)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for folder in (*runs, root / "data"):
        shutil.copytree(folder, hidden / folder.name)
    pages = sorted(copy.rglob("*.html"))
    assert len(pages) > 50
    thumbnails = set()
    for page in pages:
        for tag, attributes in Elements(page).tags:
            for key in ("href", "src"):
                target = attributes.get(key, "")
                if not target or target.startswith("#") or (tag == "a" and target.endswith("REPORT.md")):
                    continue
                assert "://" not in target and not target.startswith("/"), (page, target)
                path = (page.parent / unquote(target.split("#")[0])).resolve()
                assert path.is_relative_to(copy.resolve()) and path.exists(), (page, target)
                thumbnails |= {path.name} if key == "src" and "thumbs" in path.parts else set()
    assert len(thumbnails) == 60  # one per test image, however many runs and views show it
    assert len(list((copy / "thumbs").iterdir())) == 60
    links = re.findall(r"\]\(<?([^)>]+)>?\)", (copy / "REPORT.md").read_text())
    assert len(links) >= 13  # 5 comparison figures, 4 per run
    for link in links:
        assert (copy / unquote(link)).resolve().is_file() and ".." not in Path(link).parts, link


def test_report_md_and_index_html_show_the_same_numbers_and_words(two_runs):
    """Every plain cell of REPORT.md's tables (accuracies, intervals, verdicts) is a cell of index.html, and the
    verdict words of the pair come out the same."""
    _, _, out = two_runs
    markdown = (out / "REPORT.md").read_text()
    page = Elements(out / "index.html")
    html_text = " ".join(" ".join(page.text).split())
    cells = [
        cell.strip().replace("\\|", "|")
        for line in markdown.splitlines()
        if line.startswith("|") and not line.startswith("|---")
        for cell in re.split(r"(?<!\\)\|", line.strip("|"))
    ]
    plain = [c for c in cells if c and not re.search(r"[*`\[]", c)]
    assert any(re.fullmatch(r"\d+\.\d\d to \d+\.\d\d", c) for c in plain)  # Table 2's intervals are among them
    missing = [c for c in plain if c not in html_text]
    assert not missing, missing[:5]
    for words in ("no significant difference", "Wilson", "McNemar"):
        assert (words in markdown) == (words in html_text), words


def test_class_pages_put_every_runs_prediction_side_by_side(two_runs):
    _, runs, out = two_runs
    page = Elements(out / "classes" / "c0.html")  # calling
    rows = page.having("data-id")
    wrong = set()
    for run_dir in runs:
        p = RunRecord(run_dir).predictions
        wrong |= set(p[(p["label"] == "calling") & (p["prediction"] != "calling")]["id"])
    assert sorted(r["data-id"] for r in rows) == sorted(wrong)
    headers = [" ".join(page.text)]
    assert "CLIP" in headers[0] and "SigLIP" in headers[0]


def evil_predictions() -> pd.DataFrame:
    classes = [EVIL_CLASS, EVIL_QUOTE, "plain"]
    rows = []
    for c, label in enumerate(classes):
        for i in range(4):
            name = f"{EVIL_QUOTE} {i}.jpg" if c == 0 else f"{i}.jpg"
            wrong = i == 0
            rows.append(
                {
                    "id": f"test/{c}/{name}",
                    "label": label,
                    "prediction": classes[(c + 1) % 3] if wrong else label,
                    "confidence": 0.6,
                }
            )
    return pd.DataFrame(rows)


def test_names_from_user_files_are_text_never_markup(tmp_path):
    """Class and file names holding markup and quotes: no element or script comes from them, they read as text,
    and nothing is written outside the report folder."""
    predictions = evil_predictions()
    data = make_images(tmp_path / "data", list(predictions["id"]))
    run = make_run(tmp_path / "runs" / EVIL_QUOTE, "clip", predictions=predictions, dataset_root=data)
    classes = [EVIL_CLASS, EVIL_QUOTE, "plain"]
    write_json(run / "config.json", {"model_type": "clip", "id2label": {str(i): c for i, c in enumerate(classes)}})
    (run / "classification_report.csv").unlink()
    before = {p for p in tmp_path.rglob("*") if "report" not in p.parts and "plots" not in p.parts}
    out = report_of(tmp_path, [run])
    after = {p for p in tmp_path.rglob("*") if "report" not in p.parts and "plots" not in p.parts}
    assert after == before
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 5
    for page in pages:
        parsed = Elements(page)
        scripts = [a.get("src") for tag, a in parsed.tags if tag == "script"]
        assert scripts in (["assets/report.js"], ["../assets/report.js"]), (page, scripts)
        assert not [a for tag, a in parsed.tags if tag == "img" and (a.get("src") == "x" or "onerror" in a)], page
        assert not [a for _, a in parsed.tags if any(k.startswith("on") for k in a)], page
    index = Elements(out / "index.html")
    assert EVIL_CLASS in " ".join(index.text) and EVIL_QUOTE in " ".join(index.text)
    assert {c["data-true"] for c in index.having("data-true")} == set(classes)
    cell = Elements(out / "cells" / "r1-t0-p1.html")
    assert [a["data-id"] for a in cell.having("data-id")] == [f"test/0/{EVIL_QUOTE} 0.jpg"]


def test_mislabelled_test_images_rank_first_among_suspect_labels(tmp_path):
    """Three runs whose probabilities put 6 of 600 images in another class than their (wrong, on purpose) label:
    those 6 are the top of the suspect list, each shown with the label the runs predict."""
    rng = np.random.default_rng(0)
    per_class = 40
    truth = [c for c in range(15) for _ in range(per_class)]
    flipped = {7: 3, 140: 9, 275: 0, 410: 12, 550: 5, 590: 1}  # image index -> the wrong label it is given
    ids = [f"test/{CLASSES[c]}/{i:03d}.jpg" for i, c in enumerate(truth)]
    given = [flipped.get(i, c) for i, c in enumerate(truth)]
    runs = []
    for seed in range(3):
        logits = rng.normal(0, 1, (len(ids), 15))
        logits[np.arange(len(ids)), truth] += rng.normal(3.0, 1.0, len(ids))  # the models see the true class
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        predicted = probabilities.argmax(axis=1)
        frame = pd.DataFrame(
            {
                "id": ids,
                "label": [CLASSES[g] for g in given],
                "prediction": [CLASSES[p] for p in predicted],
                "confidence": probabilities.max(axis=1),
            }
        )
        run = make_run(tmp_path / "clip" / f"seed-{seed}", "clip", predictions=frame, dataset_root=tmp_path / "data")
        with_probabilities(run, probabilities)
        runs.append(run)
    out = report_of(tmp_path, runs)
    index = Elements(out / "index.html")
    (table,) = index.having("data-view", "suspects")
    rows = [a for tag, a in index.tags if tag == "tr" and "data-rank" in a]
    ranked = [r["data-id"] for r in sorted(rows, key=lambda r: int(r["data-rank"]))]
    assert [r["data-id"] for r in rows] == ranked  # rows in rank order
    assert {ids[i] for i in flipped} == set(ranked[:6]), ranked[:10]
    votes = {r["data-id"]: r for r in rows}
    assert all(votes[ids[i]]["data-majority"] == CLASSES[truth[i]] for i in flipped)
    text = " ".join(index.text)
    assert "candidates to check by eye, not proven errors" in text
    # The dataset is not there (no images were made): the page shows ids without pictures and says why.
    assert "600 test images of" in text and "could not be read" in text
    assert not [a for tag, a in index.tags if tag == "img" and "thumbs/" in a.get("src", "")]


def test_inline_markdown_becomes_escaped_html():
    assert str(inline("**<b>x</b>** `a<b` *i* [t](REPORT.md)")) == (
        '<strong>&lt;b&gt;x&lt;/b&gt;</strong> <code>a&lt;b</code> <em>i</em> <a href="REPORT.md">t</a>'
    )
    assert "<a" not in str(inline("[x](javascript:alert(1))")) and "<a" not in str(inline("[x](/etc/passwd)"))
    assert str(inline('[x]("><script>)')) == '<a href="&#34;&gt;&lt;script&gt;">x</a>'


@pytest.mark.slow
def test_a_real_run_writes_its_test_probabilities(tiny_run):
    record = RunRecord.load(tiny_run)
    probabilities, predictions = record.probabilities, record.predictions
    assert list(probabilities.ids) == list(predictions["id"])
    assert list(probabilities.classes) == record.class_names()
    np.testing.assert_allclose(probabilities.values.sum(axis=1), 1.0, atol=1e-4)
    best = [probabilities.classes[k] for k in probabilities.values.argmax(axis=1)]
    assert best == list(predictions["prediction"])
    np.testing.assert_allclose(probabilities.values.max(axis=1), predictions["confidence"], atol=1e-6)


def test_report_md_links_work_for_any_folder_name(tmp_path):
    """Runs in folders with spaces and non-ASCII names, the report inside their parent: every link of REPORT.md
    is a plain relative path to a file in the report folder."""
    parent = tmp_path / "my runs ü"
    runs = [make_run(parent / "clip seed 1", "clip"), make_run(parent / "sig lip", "siglip")]
    out = parent / "rapport final"
    assert plot_metrics.main([*map(str, runs), "--out", str(out)]) == 0
    links = re.findall(r"\]\(([^)]+)\)", (out / "REPORT.md").read_text())
    assert len(links) >= 13
    for link in links:
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", link) and (out / link).is_file(), link
    inside = plot_metrics.main([*map(str, runs), "--out", str(parent)]) == 0  # the runs inside the report folder
    assert inside
    for link in re.findall(r"\]\(([^)]+)\)", (parent / "REPORT.md").read_text()):
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", link) and (parent / link).is_file(), link


def test_a_new_report_removes_its_stale_pages_and_nothing_else(two_runs):
    """A cell page of an earlier report that this one does not write goes; a user's file in the folder stays."""
    root, runs, out = two_runs
    stale, mine = out / "cells" / "r9-t9-p9.html", out / "cells" / "notes.txt"
    stale.write_text("old")
    mine.write_text("keep me")
    report_of(root, runs)
    assert not stale.exists() and mine.read_text() == "keep me"
    assert (out / "cells" / "r1-t0-p1.html").is_file()
