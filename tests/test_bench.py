"""The benchmark runs end to end on tiny settings and prints well-formed tables (its figures are not checked:
they are measurements, docs/performance.md).

OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_bench.py -q   # about 30 s; the scaling and GPU-check dry runs too: ~1 min
"""

import re

from benchmarks import bench

ROW = re.compile(r"^\| (?P<name>[^|]+) \| (?P<cells>.+) \|$")


def _rows(text: str, header: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 3 :]:  # header, column names, alignment row
        match = ROW.match(line)
        if not match:
            break
        rows[match["name"]] = [cell.strip() for cell in match["cells"].split("|")]
    return rows


def test_every_section_runs_on_a_cpu_and_prints_its_table(capsys, tmp_path):
    argv = ["--device", "cpu", "--images", "48", "--epochs", "2", "--batch_size", "1", "--eval_batch_size", "1"]
    argv += ["--steps", "1", "--warmup", "0", "--run_images_per_class", "4", "--run_epochs", "1"]
    assert bench.main([*argv, "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out

    data = _rows(out, "data path:")
    assert list(data)[:2] == ["report: PIL-backend processor per image", "stock: torchvision processor per image"]
    assert set(bench.OURS) <= set(data) and "input scan" in out
    for cells in data.values():
        first, later, ratio_first, ratio_later = cells
        assert float(first.replace(",", "")) > 0 and float(later.replace(",", "")) > 0
        assert ratio_first.endswith("x") and ratio_later.endswith("x")
    assert data["report: PIL-backend processor per image"][2:] == ["1.0x", "1.0x"]

    models = _rows(out, "model steps:")
    assert set(models) == {"CLIP ViT-B/16", "SigLIP B/16"}
    assert all(float(cells[1]) > 0 and float(cells[3]) > 0 for cells in models.values())

    run = _rows(out, "whole run:")
    assert len(run) == 2 and all(0 <= float(cells[-1]) <= 1 for cells in run.values())
    assert re.search(r"speed-up: [\d.]+x the whole run", out)
