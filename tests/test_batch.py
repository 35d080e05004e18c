"""``python -m mcld batch`` in upstream's layout: a ``from,to`` pairs CSV in,
``<out>/256/`` and ``<out>/512/`` PNGs named as upstream ``test.py`` names
them out, resumable (tiny random weights)."""

from __future__ import annotations

import csv
import json
import shutil

from PIL import Image

from mcld import cli

PAIRS = [("reference_img_0.png", f"reference_img_{k}.png") for k in (1, 2, 3)]


def _run(tmp_path, images_dir, capsys):
    rc = cli.main([
        "batch", "--tiny", "--tiny-model-size", "64", "--steps", "1", "--pairs", str(tmp_path / "test.csv"),
        "--image-dir", str(images_dir), "--iuv-dir", str(tmp_path / "test_densepose"), "--out-dir", str(tmp_path / "out"),
    ])  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return rc, lines


def test_upstream_pairs_csv_layout_and_resume(tmp_path, images_dir, shared_dir, capsys):
    # pandas-written test.csv (unnamed index column), as upstream's data/test.csv.
    with open(tmp_path / "test.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "from", "to"])
        writer.writerows([i, a, b] for i, (a, b) in enumerate(PAIRS))
    # Upstream's test_densepose/<to stem>.png: real DensePose IUVs (cv2 channel order).
    (tmp_path / "test_densepose").mkdir()
    for (_, to), iuv in zip(PAIRS, sorted((shared_dir / "poses").glob("*_iuv.png"))):
        shutil.copy(iuv, tmp_path / "test_densepose" / to)

    rc, lines = _run(tmp_path, images_dir, capsys)
    assert rc == 0
    names = ["reference_img_0_2_reference_img_1", "reference_img_0_2_reference_img_2", "reference_img_0_2_reference_img_3"]
    assert [line["name"] for line in lines] == names and not any("skipped" in line for line in lines)
    for sub, size in (("256", (176, 256)), ("512", (352, 512))):
        files = sorted(p.name for p in (tmp_path / "out" / sub).iterdir())
        assert files == [f"{n}.png" for n in names]
        assert all(Image.open(tmp_path / "out" / sub / f).size == size for f in files)
    # The three targets differ, so the results do.
    images = [Image.open(tmp_path / "out" / "256" / f"{n}.png").tobytes() for n in names]
    assert len(set(images)) == 3
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}

    rc, lines = _run(tmp_path, images_dir, capsys)
    assert rc == 0
    assert [line.get("skipped") for line in lines] == ["exists"] * 3
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")} == stamp


def test_upstream_result_name_is_upstreams():
    assert cli.upstream_result_name("fashionWOMENid01_1front.jpg", "fashionWOMENid01_2side.jpg") == (
        "fashionWOMENid01_1front_2_fashionWOMENid01_2side"
    )


def test_csv_without_known_columns_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert cli.main(["batch", "--tiny", "--pairs", str(tmp_path / "x.csv"), "--out-dir", str(tmp_path)]) == 2
    assert "from,to" in capsys.readouterr().err


def test_upstream_format_needs_an_image_dir(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("from,to\na.jpg,b.jpg\n")
    assert cli.main(["batch", "--tiny", "--tiny-model-size", "64", "--pairs", str(tmp_path / "t.csv"),
                     "--out-dir", str(tmp_path)]) == 2  # fmt: skip
    assert "--image-dir" in capsys.readouterr().err
