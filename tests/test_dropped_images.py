"""Dropped images are named: conflicting labels and decompression bombs in skipped_images.csv; what dead processes
left under construction in the pixel cache is removed by the next run.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_dropped_images.py     # ~15 s
"""

import os
import socket
import subprocess
import sys
import warnings

import pandas as pd
from helpers_bad_input import flags, make_dataset, tiny_checkpoint
from PIL import Image

from har_finetune.data import cache
from har_finetune.data.images import scan_images
from har_finetune.data.pixel_files import remove_dead_temporaries, temporary_name
from har_finetune.data.sources import FileReader, load_source
from har_finetune.data.split import make_split
from har_finetune.training.job import main


def test_images_with_two_labels_are_listed_with_both_files_and_labels(tmp_path_factory, tmp_path):
    data = make_dataset(tmp_path / "data")
    original = sorted((data / "train" / "calling").iterdir())[0]
    (data / "train" / "clapping" / "linked.jpg").symlink_to(original)  # the same photo in another class
    source = load_source(str(data))
    split = make_split(source, scan_images(source.reader, source.ids, workers=1), 0.2, 0.2, seed=0)
    reasons = dict(zip(split.skipped["id"], split.skipped["reason"]))
    calling, clapping = f"train/calling/{original.name}", "train/clapping/linked.jpg"
    assert reasons[calling] == f"conflicting labels: labelled 'calling', but the same pixels as {clapping} ('clapping')"
    assert reasons[clapping] == f"conflicting labels: labelled 'clapping', but the same pixels as {calling} ('calling')"
    out = tmp_path / "run"
    assert main(flags(data, tiny_checkpoint(tmp_path_factory), out, "--max_steps", "1"), family="clip") == 0
    skipped = pd.read_csv(out / "skipped_images.csv")
    assert sorted(skipped["id"]) == sorted([calling, clapping]) and skipped["reason"].str.contains("'clapping'").all()


def test_a_decompression_bomb_is_one_skip_line_with_its_pixel_count_and_no_raw_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40x40 = 1,600 pixels: where Pillow only warns
    Image.new("RGB", (40, 40), (9, 99, 199)).save(tmp_path / "big.png")
    Image.new("RGB", (20, 20), (9, 99, 199)).save(tmp_path / "small.png")
    with warnings.catch_warnings(record=True) as raised:
        results = scan_images(FileReader(str(tmp_path)), ["big.png", "small.png"], workers=1)
    assert [w for w in raised if issubclass(w.category, Image.DecompressionBombWarning)] == []
    assert not results[0].ok and results[1].ok
    assert results[0].error == "image of 1,600 pixels is over Pillow's decompression-bomb limit (1,000 pixels)"


def test_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    pixels = tmp_path / "cache" / "pixels"
    pixels.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = socket.gethostname()
    left = [
        pixels / f"store-short256-3.tmp-{host}-{dead_pid}-0123abcd",
        pixels / f"eval-x.tmp-{host}-{dead_pid}-89abcdef",
    ]
    for folder in left:
        folder.mkdir()
        (folder / "shard.u8").write_bytes(b"\0" * 10)
    live = pixels / temporary_name("store-short256-3")  # this process: still building
    other_host = pixels / f"store.tmp-another-node-{dead_pid}-0123abcd"  # cannot tell from here: kept
    live.mkdir()
    other_host.mkdir()
    assert live.name.startswith(f"store-short256-3.tmp-{host}-{os.getpid()}-")
    assert sorted(remove_dead_temporaries(pixels)) == sorted(p.name for p in left)
    assert sorted(p.name for p in pixels.iterdir()) == sorted([live.name, other_host.name])


def test_the_next_run_removes_a_killed_builders_folder(tmp_path_factory, tmp_path):
    data, out = make_dataset(tmp_path / "data"), tmp_path / "run"
    code = "import os, sys; from har_finetune.data.pixel_files import Writer; from pathlib import Path; "
    code += "w = Writer(Path(sys.argv[1]), 'store'); os.kill(os.getpid(), 9)"
    pixels = tmp_path / "cache" / "pixels"
    subprocess.run([sys.executable, "-c", code, str(pixels)], check=False)
    assert [p.name for p in pixels.iterdir() if ".tmp-" in p.name]  # what SIGKILL left
    cache._tidied.clear()
    argv = flags(data, tiny_checkpoint(tmp_path_factory), out, "--max_steps", "1")
    assert main([*argv, "--pixel_cache_dir", str(tmp_path / "cache")], family="clip") == 0
    assert [p.name for p in pixels.iterdir() if ".tmp-" in p.name] == []
