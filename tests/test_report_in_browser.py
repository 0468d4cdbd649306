"""The HTML report in a real browser (headless Chromium, tests/browser.py): confusion cells open exactly their
images, nothing goes to the network, the report folder works copied alone, names from the user's files stay text.

Run: OMP_NUM_THREADS=1 python -m pytest tests/test_report_in_browser.py -q
(needs chromium + chromium-driver and selenium; skips without them, fails without them in CI; the demo report is
built once per session, ~40 s)
"""

import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote

import browser
import numpy as np
import pandas as pd
import pytest
from browser import chromium_session, file_of, require_chromium  # noqa: F401  (chromium_session: fixture `chromium`)
from PIL import Image
from run_folders import make_images, make_run

import plot_metrics
from har_finetune import demo

PAGE = "index.html"
CELL = "[data-run][data-true][data-pred][data-count]:not([data-view])"  # a confusion cell (docs/plots_and_report.md)
DEMO_RUN = re.compile(r"^(CLIP|SigLIP) \(seed-(\d+)\)$")  # how REPORT.md names the demo's runs


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """The demo (2 tiny models x 3 seeds) run once: its folder, with the report in report/."""
    out = tmp_path_factory.mktemp("demo")
    assert demo.main(["--out", str(out)]) == 0
    assert (out / "report" / PAGE).is_file(), "the demo wrote no report/index.html"
    return out


def predictions_of(out: Path, run: str) -> pd.DataFrame:
    """test_predictions.csv of the demo run that the page calls `run` (`CLIP (seed-1)`)."""
    model, seed = DEMO_RUN.match(run).groups()
    return pd.read_csv(out / model.lower() / f"seed-{seed}" / "test_predictions.csv", dtype=str)


CELLS = """return [...document.querySelectorAll(arguments[0])]
  .map(e => [e.dataset.run, e.dataset.true, e.dataset.pred, Number(e.dataset.count)]);"""
# Elements that names from the user's files would create if the page did not escape them (HOSTILE_* below).
INJECTED = """[...document.querySelectorAll('svg, #bold, [onerror], [onload]')].map(e => e.outerHTML)
  .concat([...document.images].filter(i => /\\/(x|y)$/.test(i.src)).map(i => i.outerHTML))"""
# The cell view now displayed for (run, true, pred), compared in JavaScript (names may hold quotes that a CSS selector
# would need escaped): its data-ids, its thumbnails' widths (-1: still loading, 0: broken), its text, and what the
# page it is on shows of injection (elements, alerts).
SHOWN_VIEW = f"""
const [run, t, p] = arguments;
const view = [...document.querySelectorAll('[data-view="cell"]')].find(v =>
  v.dataset.run === run && v.dataset.true === t && v.dataset.pred === p && v.checkVisibility());
if (!view) return null;
view.querySelectorAll('img').forEach(i => {{ i.loading = 'eager'; }});
return {{ids: [...view.querySelectorAll('[data-id]')].map(e => e.dataset.id),
        widths: [...view.querySelectorAll('img')].map(i => i.complete ? i.naturalWidth : -1),
        text: view.innerText, injected: {INJECTED}, alerts: window.__alerts || []}};
"""


def cells(chromium) -> list[tuple[str, str, str, int]]:
    """Each confusion cell of the page as (run, true class, predicted class, count), in page order."""
    return [tuple(cell) for cell in chromium.driver.execute_script(CELLS, CELL)]


def open_cell(chromium, index: int, page: Path, timeout: float = 5.0) -> dict:
    """Click the `index`-th confusion cell (its link or button, if it holds one); the ids and thumbnail widths of the
    cell view it shows, once its thumbnails have loaded. Back on `page` afterwards (a view may be a page of its own)."""
    run, true, pred, _ = cells(chromium)[index]
    cell = chromium.driver.find_elements("css selector", CELL)[index]
    target = (cell.find_elements("css selector", "a, button") or [cell])[0]
    chromium.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
    target.click()
    deadline = time.monotonic() + timeout
    while (shown := chromium.driver.execute_script(SHOWN_VIEW, run, true, pred)) is None or -1 in shown["widths"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"clicking the cell {run}: {true} -> {pred} showed no data-view=cell for it")
        time.sleep(0.05)
    if file_of(chromium.driver.current_url) != Path(page).resolve():
        chromium.driver.back()
    return shown


def test_without_chromium_browser_tests_skip_here_and_fail_in_ci(monkeypatch):
    monkeypatch.setattr(browser, "_binaries", lambda: (None, None))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="browser tests cannot run in CI: no chromium"):
        require_chromium()


def test_the_browser_helper_sees_requests_alerts_and_broken_images(chromium, tmp_path):
    """The instrument first: it must catch what the report tests assert never happens."""
    Image.new("RGB", (20, 10), (200, 0, 0)).save(tmp_path / "pic.png")
    page = tmp_path / "page.html"
    page.write_text(
        '<!doctype html><p>hello</p><img src="pic.png"><img src="missing.png">'
        '<img src="http://127.0.0.1:9/remote.png"><script>alert("hi")</script>'
    )
    assert chromium.open(page) < 2
    assert chromium.network_requests() == ["http://127.0.0.1:9/remote.png"]
    assert chromium.alerts() == ["alert: hi"]
    widths = {Path(i["src"]).name: i["width"] for i in chromium.load_every_image()}
    assert widths == {"pic.png": 20, "missing.png": 0, "remote.png": 0}
    assert any("missing.png" in line for line in chromium.console_errors())
    assert [file_of(u).name for u in chromium.local_links()] == ["pic.png", "missing.png"]


@pytest.mark.slow
def test_confusion_cells_open_exactly_their_images_offline(chromium, demo_out):
    page = demo_out / "report" / PAGE
    seconds = chromium.open(page)
    assert seconds < 2, f"the page took {seconds:.2f} s to load"
    screenshot = chromium.screenshot()  # the first screen a reader sees
    assert screenshot.std() > 20 and len(np.unique(screenshot.reshape(-1, 3), axis=0)) > 50, "blank screenshot"
    shown = cells(chromium)
    runs = list(dict.fromkeys(run for run, *_ in shown))
    assert len(runs) == 6 and all(DEMO_RUN.match(r) for r in runs), runs
    frames = {run: predictions_of(demo_out, run) for run in runs}
    for run, true, pred, count in shown:
        frame = frames[run]
        assert count == ((frame["label"] == true) & (frame["prediction"] == pred)).sum(), (run, true, pred)
    for run, frame in frames.items():  # every non-empty cell is on the page
        pairs = set(zip(frame["label"], frame["prediction"]))
        assert pairs <= {(t, p) for r, t, p, n in shown if r == run and n > 0}, run
    suspects = chromium.driver.execute_script(
        "return [...document.querySelectorAll('[data-view=\"suspects\"]')]"
        ".map(v => [...v.querySelectorAll('[data-id]')].map(e => e.dataset.id));"
    )
    assert len(suspects) == 1, "no (or several) suspect-label lists"
    assert len(set(suspects[0])) == len(suspects[0]) and set(suspects[0]) <= set(frames[runs[0]]["id"])

    first = [k for k, (run, *_, count) in enumerate(shown) if run == runs[0] and count > 0]  # diagonal too
    mistakes = [k for k, (run, true, pred, count) in enumerate(shown) if run != runs[0] and count and true != pred]
    for index in first + mistakes[:1]:
        run, true, pred, count = shown[index]
        view = open_cell(chromium, index, page)
        frame = frames[run]
        wanted = sorted(frame[(frame["label"] == true) & (frame["prediction"] == pred)]["id"])
        assert sorted(view["ids"]) == wanted and len(wanted) == count, (run, true, pred)
        assert len(view["widths"]) >= count and min(view["widths"]) > 0, f"a thumbnail of {run}: {true} -> {pred}"
    assert chromium.network_requests() == []


MARKDOWN_LINK = re.compile(r"\]\((<[^>]*>|(?:[^()\s]|\([^()]*\))+)")


def markdown_targets(text: str) -> list[str]:
    """The local files REPORT.md's links and images point to (URL-decoded, fragment dropped)."""
    targets = []
    for raw in MARKDOWN_LINK.findall(text):
        target = unquote(raw.strip("<>").split("#")[0])
        if target and not re.match(r"^[a-z]+:", target):
            targets.append(target)
    return targets


@pytest.mark.slow
def test_the_report_folder_copied_alone_shows_everything(chromium, demo_out, tmp_path):
    copy = tmp_path / "copied report é"  # a space and non-ASCII in the folder name
    shutil.copytree(demo_out / "report", copy)
    away = demo_out.with_name(demo_out.name + "-away")
    demo_out.rename(away)  # the run folders and the dataset are gone
    try:
        chromium.open(copy / PAGE)
        images = chromium.load_every_image()
        broken = [i["src"] for i in images if i["width"] == 0]
        assert len(images) > 10 and broken == [], broken
        figures = {file_of(i["src"]).name for i in images}
        assert {"compare_eval.png", "compare_per_class_f1.png", "accuracy.png", "reliability.png"} <= figures
        outside = [u for u in chromium.local_links() if not file_of(u).resolve().is_relative_to(copy.resolve())]
        missing = [u for u in chromium.local_links() if not file_of(u).exists()]
        assert outside == [] and missing == [], (outside, missing)
        assert chromium.network_requests() == [] and chromium.console_errors() == []
        targets = markdown_targets((copy / "REPORT.md").read_text())
        assert len(targets) > 10 and [t for t in targets if not (copy / t).exists()] == []
    finally:
        away.rename(demo_out)


HOSTILE_CLASSES = ["<img src=x onerror=alert(1)>", '"><svg onload=alert(2)>', 'it\'s "quoted" & <b id=bold>']
HOSTILE_FILE = "<img src=y onerror=alert(3)> 'q' \"d\".jpg"


@pytest.mark.slow
def test_names_with_html_and_quotes_are_shown_as_text(chromium, tmp_path):
    classes = HOSTILE_CLASSES + ["walking"]
    ids = [f"train/{c}/{HOSTILE_FILE if i == 0 else f'{i}.jpg'}" for c in classes for i in range(3)]
    labels = [i.split("/")[1] for i in ids]
    predictions = pd.DataFrame(
        {"id": ids, "label": labels, "prediction": [classes[(classes.index(c) + (k % 3 == 0)) % 4]
                                                     for k, c in enumerate(labels)], "confidence": 0.8}
    )  # fmt: skip
    data = make_images(tmp_path / "data", ids)
    runs = [make_run(tmp_path / name, family, predictions=predictions, dataset_root=data)
            for name, family in (("clip", "clip"), ("siglip", "siglip"))]  # fmt: skip
    assert plot_metrics.main([*map(str, runs), "--out", str(tmp_path / "report")]) == 0
    chromium.open(tmp_path / "report" / PAGE)
    shown = cells(chromium)
    first = shown[0][0]
    hostile = [
        k for k, (run, true, pred, n) in enumerate(shown) if run == first and n and {true, pred} & {*HOSTILE_CLASSES}
    ]
    ids = []
    for index in hostile:  # a view may be a page of its own: check it there
        view = open_cell(chromium, index, tmp_path / "report" / PAGE)
        _, true, pred, _ = shown[index]
        wanted = predictions[(predictions["label"] == true) & (predictions["prediction"] == pred)]["id"]
        assert sorted(view["ids"]) == sorted(wanted) and min(view["widths"]) > 0, (true, pred)
        assert view["injected"] == [] and view["alerts"] == [], view["injected"]
        ids += view["ids"]
    assert {f"train/{c}/{HOSTILE_FILE}" for c in HOSTILE_CLASSES} <= set(ids)  # such file names were checked too
    injected = chromium.driver.execute_script(f"return {INJECTED};")
    assert injected == [] and chromium.alerts() == []
    text = chromium.driver.execute_script("return document.body.innerText;")
    assert all(name in text for name in HOSTILE_CLASSES), "a class name does not read as itself"
    assert set(HOSTILE_CLASSES) <= {true for _, true, *_ in cells(chromium)}  # attributes read back intact
    assert chromium.network_requests() == []
